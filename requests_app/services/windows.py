"""When a request's access starts and ends: one rule for every surface.

Access starts at max(approval time, `assume_start_time`); an extension starts no earlier
than the end of the approved access it continues, the approved extensions that already
continue it included, so access runs on without a gap or an overlap. The service that
approves (`grants.grants_create_for`) stores that start, which the API, the portal and the
notifications then show; the portal's preview, its inbox and the admin desk's page and queue
show the window a pending request would get from `access_windows`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest

# Why a planned window starts when it does.
ON_APPROVAL = "approval"
AT_ASKED_TIME = "asked"
AFTER_CURRENT_ACCESS = "continues"


@dataclass(frozen=True)
class AccessWindow:
    """The access of a request: as given (`planned` False) or as approval at `now` would
    give it (`planned` True), with why it starts then (`basis`, for planned windows)."""

    starts: datetime
    expires: datetime
    planned: bool
    basis: str = ""

    @property
    def starts_on_approval(self) -> bool:
        return self.basis == ON_APPROVAL

    @property
    def extends_current(self) -> bool:
        return self.basis == AFTER_CURRENT_ACCESS


def chain_ends(requests: Iterable[AccessRequest]) -> dict[object, datetime]:
    """For each APPROVED request given, when its access ends counting the approved
    extensions that continue it without a gap (extensions of extensions included).

    One query per generation of extensions, for all the requests at once.
    """
    roots = [r for r in requests if r.state == RequestState.APPROVED and r.access_expires]
    root_of = {r.pk: r.pk for r in roots}
    found: dict[object, list[tuple[datetime, datetime]]] = {r.pk: [] for r in roots}
    parents = list(root_of)
    while parents:
        rows = AccessRequest.objects.filter(
            extends_id__in=parents, state=RequestState.APPROVED, access_starts__isnull=False
        ).values_list("pk", "extends_id", "access_starts", "access_expires")
        parents = []
        for pk, parent, starts, expires in rows:
            root_of[pk] = root_of[parent]
            found[root_of[pk]].append((starts, expires))
            parents.append(pk)
    ends = {}
    for root in roots:
        end = root.access_expires
        for starts, expires in sorted(found[root.pk]):
            if starts > end:
                break
            end = max(end, expires)
        ends[root.pk] = end
    return ends


def _planned(request: AccessRequest, now: datetime, continues: datetime | None) -> AccessWindow:
    asked = request.assume_start_time
    starts = max(now, asked or now, continues or now)
    if continues is not None and continues == starts and continues > now:
        basis = AFTER_CURRENT_ACCESS
    elif asked is not None and asked == starts and asked > now:
        basis = AT_ASKED_TIME
    else:
        basis = ON_APPROVAL
    expires = starts + timedelta(seconds=request.max_duration)
    return AccessWindow(starts=starts, expires=expires, planned=True, basis=basis)


def access_windows(requests: Iterable[AccessRequest], now: datetime) -> dict[object, AccessWindow]:
    """The window of each request, by pk: as given once approved, else as approval at `now`
    would give it. Queries once per generation of extensions, whatever the number of
    requests (the queue and the inbox ask for a page at a time)."""
    requests = list(requests)
    pending = [r for r in requests if r.access_starts is None or r.access_expires is None]
    extended = {r.extends_id: r.extends for r in pending if r.extends_id}
    ends = chain_ends(extended.values()) if extended else {}
    windows = {}
    for r in requests:
        if r.access_starts is not None and r.access_expires is not None:
            windows[r.pk] = AccessWindow(r.access_starts, r.access_expires, planned=False)
        else:
            windows[r.pk] = _planned(r, now, ends.get(r.extends_id))
    return windows


def access_window(request: AccessRequest, now: datetime) -> AccessWindow:
    """`access_windows` for one request."""
    return access_windows([request], now)[request.pk]


def access_start_for(request: AccessRequest, now: datetime) -> datetime:
    """When the access of `request` opens if it is approved at `now`: max(now,
    assume_start_time, the end of the approved access an extension continues)."""
    ends = chain_ends([request.extends]) if request.extends_id else {}
    return _planned(request, now, ends.get(request.extends_id)).starts
