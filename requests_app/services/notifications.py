"""Dispatching the outbox: route each message once, then send each delivery once.

No duplicate sends when a task runs twice or two workers race: routing takes the message
row with `select_for_update(skip_locked=True)` and marks it routed; a delivery is claimed by
compare-and-swap (state PENDING, due, lease free → lease taken, attempt counted) before it
is sent, outside any transaction, and its outcome is written only by the claim holder.
A worker killed while sending leaves a lease that runs out (`NOTIFY_CLAIM_LEASE`), after
which the sweep sends it again: at least once, never lost. Receivers of webhooks can drop a
repeat by its delivery id.

Failures retry with exponential backoff (`NOTIFY_RETRY_BACKOFF` doubling, capped at
`NOTIFY_RETRY_BACKOFF_MAX`); after `NOTIFY_MAX_ATTEMPTS`, or at once for a permanent
failure, the delivery is a dead letter (state DEAD) until someone retries it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import OutboxState
from accessportal.kernel.errors import NotAllowed
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from requests_app.models import NotificationDelivery, OutboxMessage
from requests_app.notifications.channels import DeliveryError, deliver
from requests_app.notifications.routing import routes_for
from requests_app.selectors import eligible_reviewers
from requests_app.services.escalation import EVENT as REMINDER_EVENT
from requests_app.services.escalation import reminder_recipients, reminder_still_due
from requests_app.services.jobs import job_after_commit

logger = logging.getLogger(__name__)

MAX_ERROR = 2000


def retry_delay(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: the base, doubled per failed attempt, capped."""
    base, cap = settings.NOTIFY_RETRY_BACKOFF, settings.NOTIFY_RETRY_BACKOFF_MAX
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _lease_free(now: datetime) -> Q:
    return Q(claimed_until=None) | Q(claimed_until__lte=now)


# Events whose message also goes to the request's eligible reviewers, named at routing.
REVIEWERS_TOLD = ("request.created", "break_glass.opened")


@retry_on_conflict
@transaction.atomic
def outbox_route(*, message_id: int, now: datetime | None = None) -> bool:
    """Turn a message into its deliveries, once; False when already routed (or being routed)."""
    now = now or timezone.now()
    message = (
        OutboxMessage.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("request", "request__user")
        .filter(pk=message_id, routed_at=None)
        .first()
    )
    if message is None:
        return False
    fields = ["routed_at"]
    if message.event in REVIEWERS_TOLD and message.request_id:
        # The request's eligible reviewers are named here, after commit, rather than in
        # the create transaction: a request reviewable by 10,000 people stays as cheap to
        # create as one reviewable by 10 (bench/README.md, "Reviewer fan-out").
        names = eligible_reviewers(message.request).values_list(
            get_user_model().USERNAME_FIELD, flat=True
        )
        message.recipients = sorted({*message.recipients, *names})
        fields.append("recipients")
    elif message.event == REMINDER_EVENT and message.request_id:
        # A reminder tier's audience, as it is now (services.escalation); nobody, and no
        # channel, once the request was resolved or ran out meanwhile (dispatch after commit
        # can lag the sweep): "waiting for review" would be wrong.
        message.recipients = reminder_recipients(message.request, message.payload or {}, now)
        fields.append("recipients")
    moot = message.event == REMINDER_EVENT and not reminder_still_due(message.request, now)
    routes = [] if moot else routes_for(message)
    NotificationDelivery.objects.bulk_create(
        [
            NotificationDelivery(
                message=message,
                channel=route.channel,
                target=route.target,
                rule=route.rule,
                options=route.options,
                next_attempt_at=now,
                created=now,
            )
            for route in routes
        ],
        ignore_conflicts=True,
    )
    message.routed_at = now
    if not routes:
        # Nobody to tell (no address, no matching rule): done, and the row says so.
        message.state, message.sent_at, message.last_error = OutboxState.SENT, now, ""
        fields += ["state", "sent_at", "last_error"]
    message.save(update_fields=fields)
    return True


def delivery_claim(*, delivery_id: object, now: datetime | None = None):
    """Take a due, unclaimed PENDING delivery for one attempt; None when someone else has it
    or it is not due. One UPDATE, so it is atomic on every database."""
    now = now or timezone.now()
    taken = NotificationDelivery.objects.filter(
        _lease_free(now), pk=delivery_id, state=OutboxState.PENDING, next_attempt_at__lte=now
    ).update(
        claimed_until=now + timedelta(seconds=settings.NOTIFY_CLAIM_LEASE),
        attempts=F("attempts") + 1,
    )
    if taken != 1:
        return None
    return NotificationDelivery.objects.select_related(
        "message", "message__request", "message__request__user"
    ).get(pk=delivery_id)


def _summarise(message: OutboxMessage, now: datetime) -> None:
    rows = list(message.deliveries.values_list("channel", "state", "attempts", "last_error"))
    states = {state for _, state, _, _ in rows}
    if OutboxState.PENDING in states:
        message.state = OutboxState.PENDING
    elif OutboxState.DEAD in states:
        message.state = OutboxState.DEAD
    else:
        message.state = OutboxState.SENT
    message.sent_at = now if message.state == OutboxState.SENT else None
    message.attempts = max((attempts for _, _, attempts, _ in rows), default=0)
    errors = [
        f"{channel}: {error}" for channel, state, _, error in rows if error and state != "SENT"
    ]
    message.last_error = "; ".join(errors)[:MAX_ERROR]
    message.save(update_fields=["state", "sent_at", "attempts", "last_error"])


@retry_on_conflict
@transaction.atomic
def delivery_finish(
    *, delivery: NotificationDelivery, error: DeliveryError | None, now: datetime | None = None
) -> str:
    """Record the outcome of the attempt `delivery` was claimed for; returns the new state.

    Only the claim holder writes (matched on the attempt count it claimed), so a worker
    whose lease ran out cannot overwrite a later attempt's outcome.
    """
    now = now or timezone.now()
    message = OutboxMessage.objects.select_for_update().get(pk=delivery.message_id)
    mine = NotificationDelivery.objects.filter(
        pk=delivery.pk, state=OutboxState.PENDING, attempts=delivery.attempts
    )
    if error is None:
        state = OutboxState.SENT
        changed = mine.update(state=state, sent_at=now, claimed_until=None, last_error="")
    elif error.permanent or delivery.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        state = OutboxState.DEAD
        changed = mine.update(state=state, claimed_until=None, last_error=error.message[:MAX_ERROR])
        if changed:
            logger.error(
                "notification %s (%s, %s) is a dead letter after %d attempt(s): %s",
                delivery.pk,
                message.event,
                delivery.channel,
                delivery.attempts,
                error.message,
            )
    else:
        state = OutboxState.PENDING
        next_at = now + retry_delay(delivery.attempts)
        changed = mine.update(
            next_attempt_at=next_at, claimed_until=None, last_error=error.message[:MAX_ERROR]
        )
        if changed:
            logger.warning(
                "notification %s (%s, %s) failed, attempt %d, retrying at %s: %s",
                delivery.pk,
                message.event,
                delivery.channel,
                delivery.attempts,
                next_at.isoformat(),
                error.message,
            )
            job_after_commit("dispatch_outbox_message", eta=next_at, message_id=message.pk)
    if changed:
        _summarise(message, now)
    return state


def outbox_dispatch(*, message_id: int) -> int:
    """Route `message_id` if needed and send each of its due deliveries once; returns how
    many went out. Call outside a transaction: sending is remote and slow."""
    outbox_route(message_id=message_id)
    now = timezone.now()
    due = NotificationDelivery.objects.filter(
        _lease_free(now), message_id=message_id, state=OutboxState.PENDING, next_attempt_at__lte=now
    ).values_list("pk", flat=True)
    sent = 0
    for delivery_id in list(due):
        delivery = delivery_claim(delivery_id=delivery_id)
        if delivery is None:
            continue
        try:
            deliver(delivery, delivery.message)
            error = None
        except DeliveryError as err:
            error = err
        except Exception as err:  # a bug or an odd backend must not lose the message
            logger.exception("notification %s failed unexpectedly", delivery.pk)
            error = DeliveryError(f"unexpected error: {err!r}")
        state = delivery_finish(delivery=delivery, error=error)
        observe.delivery_finished(delivery.channel, state, delivery.message.created)
        sent += state == OutboxState.SENT
    return sent


def outbox_messages_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Messages with work for a worker: not routed yet, or with a due, unclaimed delivery."""
    now = now or timezone.now()
    unrouted = (
        OutboxMessage.objects.filter(state=OutboxState.PENDING, routed_at=None)
        .order_by("created")
        .values_list("pk", flat=True)[:limit]
    )
    waiting = (
        NotificationDelivery.objects.filter(
            _lease_free(now), state=OutboxState.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("message_id", flat=True)[:limit]
    )
    return list(dict.fromkeys([*unrouted, *waiting]))[:limit]


@retry_on_conflict
@transaction.atomic
def outbox_retry(*, message_ids: Iterable[int], actor: AbstractBaseUser) -> int:
    """Send the unsent deliveries of these messages again now, with fresh attempts
    (admin "retry now"). Needs `requests_app.change_outboxmessage`; audited.

    Returns how many messages were queued again; sent messages are left alone.
    """
    if not actor.has_perm("requests_app.change_outboxmessage"):
        raise NotAllowed("you may not retry notifications")
    now = timezone.now()
    messages = list(
        OutboxMessage.objects.select_for_update()
        .filter(pk__in=list(message_ids))
        .exclude(state=OutboxState.SENT)
        .order_by("pk")
    )
    audit: list[AuditEntry] = []
    for message in messages:
        count = message.deliveries.exclude(state=OutboxState.SENT).update(
            state=OutboxState.PENDING, attempts=0, next_attempt_at=now, claimed_until=None
        )
        before = message.state
        message.state, message.attempts = OutboxState.PENDING, 0
        message.save(update_fields=["state", "attempts"])
        audit.append(
            AuditEntry(
                action="notification.retried",
                target_type="outbox_message",
                target_id=str(message.pk),
                actor=actor,
                data={"event": message.event, "state_before": before, "deliveries": count},
            )
        )
        job_after_commit("dispatch_outbox_message", message_id=message.pk)
    audit_record_many(audit)  # once every message is updated: it takes the chain head
    return len(messages)
