"""Telling requesters, once per grant, that their access is about to end."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction
from accessportal.kernel.locking import retry_on_conflict
from requests_app.models import Grant
from requests_app.services.grants import continuation_exists
from requests_app.services.outbox import outbox_enqueue, request_payload


@retry_on_conflict
@transaction.atomic
def grants_warn_ending(
    *, now: datetime | None = None, lead: int | None = None, limit: int = 5000
) -> int:
    """Warn about active grants ending within `lead` seconds (ACCESS_EXPIRY_WARNING).

    Once per grant (`warned_at`, set by compare-and-swap), one message per request.
    Grants whose whole window is no longer than `lead` are not warned: the approval already
    said when they end. Returns how many grants it marked.
    """
    now = now or timezone.now()
    lead_delta = timedelta(seconds=settings.ACCESS_EXPIRY_WARNING if lead is None else lead)
    candidates = (
        Grant.objects.select_for_update(skip_locked=True, of=("self",))
        .open_at(now)
        .filter(warned_at=None, ended_at=None, expires__lte=now + lead_delta)
        # Access an approved extension takes over does not end: nothing to warn about.
        .exclude(continuation_exists(now))
        .select_related("request", "request__user")
        .order_by("expires")[:limit]
    )
    due = [g for g in candidates if g.expires - g.starts > lead_delta]
    if not due:
        return 0
    Grant.objects.filter(pk__in=[g.pk for g in due], warned_at=None).update(warned_at=now)
    for request_id in dict.fromkeys(g.request_id for g in due):
        request = next(g.request for g in due if g.request_id == request_id)
        outbox_enqueue(
            event="access.ending_soon",
            request_id=request_id,
            recipients=[request.user.get_username()],
            payload={
                **request_payload(request),
                "ending": [g.target for g in due if g.request_id == request_id],
            },
        )
    audit_record_many(  # last: it takes the chain head
        [
            AuditEntry(
                AuditAction.GRANT_EXPIRY_WARNED,
                "grant",
                str(g.pk),
                data={"request": str(g.request_id), "target": g.target, "expires": g.expires},
            )
            for g in due
        ]
    )
    return len(due)
