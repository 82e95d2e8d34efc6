"""Reminder and escalation tiers: a pending request nobody resolved is brought back to its
reviewers, then to wider audiences, as its policy snapshot says (`reminders`).

The beat sweep sends each due tier once per request, only while it is PENDING: it locks
due rows with SKIP LOCKED and advances the request's `reminders_sent` by compare-and-swap,
so two sweeps racing never send a tier twice. Who a tier reaches is decided when the
message is routed, after commit (`reminder_recipients`), as for `request.created`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.locking import retry_on_conflict
from requests_app.models import AccessRequest
from requests_app.selectors import eligible_reviewers
from requests_app.services.outbox import outbox_enqueue, request_payload

EVENT = "request.reminder"


def _tiers(request: AccessRequest) -> list[dict]:
    return list((request.policy or {}).get("reminders") or [])


def _next_due(request: AccessRequest, sent: int) -> datetime | None:
    tiers = _tiers(request)
    return request.created + timedelta(seconds=tiers[sent]["after"]) if sent < len(tiers) else None


@retry_on_conflict
@transaction.atomic
def access_requests_remind_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send every reminder tier that is due on a PENDING request, each once; returns how
    many tiers were sent.

    A sweep that runs late sends every tier that came due meanwhile, in order, in one go.
    Each tier is one outbox message (event `request.reminder`) and one audit event.
    """
    now = now or timezone.now()
    due_rows = list(
        AccessRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .pending_at(now)
        .filter(reminder_due__lte=now)
        .select_related("user")
        .order_by("reminder_due")[:limit]
    )
    audit: list[AuditEntry] = []
    for request in due_rows:
        tiers = _tiers(request)
        waited = (now - request.created).total_seconds()
        due = [i for i in range(request.reminders_sent, len(tiers)) if tiers[i]["after"] <= waited]
        sent = due[-1] + 1 if due else request.reminders_sent
        # Compare-and-swap on the count: a sweep that read the row before another sent
        # these tiers (or a database without row locks) changes nothing and sends nothing.
        swapped = AccessRequest.objects.filter(
            pk=request.pk, state=RequestState.PENDING, reminders_sent=request.reminders_sent
        ).update(reminders_sent=sent, reminder_due=_next_due(request, sent))
        if not swapped or not due:
            continue
        for index in due:
            tier = tiers[index]
            outbox_enqueue(
                event=EVENT,
                request_id=request.id,
                # Named when routed (reminder_recipients): the reviewers still to review,
                # or the tier's users and role holders, as they are then.
                recipients=[],
                payload={
                    **request_payload(request),
                    "tier": index + 1,
                    "tiers": len(tiers),
                    "after": tier["after"],
                    "notify": list(tier.get("notify") or []),
                },
            )
            audit.append(
                AuditEntry(
                    AuditAction.REQUEST_REMINDED,
                    "access_request",
                    str(request.id),
                    data={
                        "tier": index + 1,
                        "after": tier["after"],
                        "notify": list(tier.get("notify") or []),
                    },
                )
            )
    audit_record_many(audit)  # last: it takes the chain head
    return len(audit)


def reminder_still_due(request: AccessRequest | None, now: datetime) -> bool:
    """Whether a reminder about `request` may still go out at `now`: only while it is
    PENDING and its pending time has not run out, as the sweep sent it."""
    return request is not None and request.state == RequestState.PENDING and request.expires > now


def reminder_recipients(
    request: AccessRequest, payload: dict, now: datetime | None = None
) -> list[str]:
    """User names a reminder tier reaches, evaluated when its message is routed; none once
    the request is no longer pending (`reminder_still_due`).

    A tier without `notify` reminds the eligible reviewers who have not reviewed yet; a
    tier with `notify` reaches the users it names and the active standing holders of the
    roles it names ("#rule" entries are channels: `reminder_channels`). Never the requester.
    """
    if not reminder_still_due(request, now or timezone.now()):
        return []
    User = get_user_model()
    field = User.USERNAME_FIELD
    names = [n for n in payload.get("notify") or [] if not n.startswith("#")]
    if not payload.get("notify"):
        users = eligible_reviewers(request).exclude(reviews__request=request)
    else:
        users = User.objects.filter(
            Q(**{f"{field}__in": names}) | Q(standing_roles__name__in=names), is_active=True
        )
    return sorted(set(users.exclude(pk=request.user_id).values_list(field, flat=True)))


def reminder_channels(payload: dict) -> list[str]:
    """Names of the notification rules whose channels a tier's `#rule` entries name."""
    return [n[1:] for n in payload.get("notify") or [] if n.startswith("#")]
