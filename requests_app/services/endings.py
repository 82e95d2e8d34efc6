"""How and when a request's access ended: one read-only rule for every surface.

An APPROVED or REVOKED request with a window ended in one of these ways:

- `ENDED_EARLY`: the requester ended it themself, after it had started;
- `REVOKED`: someone else ended it after it had started (`by` is that person, or None when
  the system did: a policy change, SCIM deprovisioning);
- `CANCELLED`: it was revoked before its access started (an approved extension ended
  together with the access it was to continue, or a later start called off);
- `CONTINUED`: its window closed but an approved extension took over without a gap, so
  the access has not really ended there;
- `EXPIRED`: its window closed on time.

`at` is when it really ended (the revocation, else the planned end).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, Q
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest

ENDED_EARLY = "ended_early"
REVOKED = "revoked"
CANCELLED = "cancelled"
CONTINUED = "continued"
EXPIRED = "expired"


@dataclass(frozen=True)
class AccessEnd:
    kind: str
    at: datetime
    by: object = None  # the user who revoked it; None for the system or the clock

    @property
    def ended_early(self) -> bool:
        return self.kind == ENDED_EARLY

    @property
    def revoked(self) -> bool:
        return self.kind == REVOKED

    @property
    def cancelled(self) -> bool:
        return self.kind == CANCELLED

    @property
    def is_history(self) -> bool:
        """Whether it is an access the requester had and lost: what "recently ended" lists
        (not one cancelled before it started, not one an extension continued)."""
        return self.kind in (ENDED_EARLY, REVOKED, EXPIRED)


def _took_over() -> Q:
    """Extensions whose own access started (not cancelled before): they continued it."""
    return Q(
        state__in=[RequestState.APPROVED, RequestState.REVOKED], access_starts__isnull=False
    ) & (Q(revoked_at__isnull=True) | Q(revoked_at__gt=F("access_starts")))


def _revoked_end(request: AccessRequest) -> AccessEnd:
    if request.access_starts is not None and request.revoked_at <= request.access_starts:
        return AccessEnd(CANCELLED, request.revoked_at, request.revoked_by)
    if request.revoked_by_id is not None and request.revoked_by_id == request.user_id:
        return AccessEnd(ENDED_EARLY, request.revoked_at, request.revoked_by)
    return AccessEnd(REVOKED, request.revoked_at, request.revoked_by)


def access_ends(
    requests: Iterable[AccessRequest], now: datetime | None = None
) -> dict[object, AccessEnd]:
    """`access_end` for many requests, by pk (only those that ended); one query at most,
    for the expired ones, whatever their number. Use `select_related("revoked_by")`."""
    now = now or timezone.now()
    ends: dict[object, AccessEnd] = {}
    expired = []
    for r in requests:
        if r.state == RequestState.REVOKED and r.revoked_at is not None:
            ends[r.pk] = _revoked_end(r)
        elif r.state == RequestState.APPROVED and r.access_expires and r.access_expires <= now:
            expired.append(r)
    if expired:
        continued = set(
            AccessRequest.objects.filter(_took_over(), extends_id__in=[r.pk for r in expired])
            .filter(access_starts__lte=now)
            .values_list("extends_id", flat=True)
        )
        for r in expired:
            kind = CONTINUED if r.pk in continued else EXPIRED
            ends[r.pk] = AccessEnd(kind, r.access_expires)
    return ends


def access_end(request: AccessRequest, now: datetime | None = None) -> AccessEnd | None:
    """How and when `request`'s access ended; None when it has not (or never had a window:
    pending, denied, withdrawn)."""
    return access_ends([request], now).get(request.pk)
