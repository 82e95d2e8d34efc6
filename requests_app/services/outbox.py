"""Notifications as outbox rows, written in the transaction of the change (invariant 7).

Dispatch happens after commit, in workers, so a broker outage never fails or loses a
request: the row is there until a worker delivers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.utils import timezone

from accessportal.kernel.bulk_insert import insert_rows
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.services.jobs import job_after_commit


def outbox_message(
    *, event: str, request_id: object, recipients: Iterable[str], payload: dict
) -> OutboxMessage:
    """An unsaved notification of `event` about a request for `recipients` (user names)."""
    return OutboxMessage(
        created=timezone.now(),
        event=event,
        request_id=request_id,
        recipients=sorted(set(recipients)),
        payload=payload,
    )


def outbox_enqueue(
    *, event: str, request_id: object, recipients: Iterable[str], payload: dict
) -> OutboxMessage:
    """Queue one notification of `event` about a request for `recipients` (user names).

    A worker dispatches it after commit; if the broker is down, the outbox sweep does.
    """
    message = outbox_message(
        event=event, request_id=request_id, recipients=recipients, payload=payload
    )
    message.save(force_insert=True)
    job_after_commit("dispatch_outbox_message", message_id=message.pk)
    return message


_OUTBOX_FIELDS = (
    "created", "event", "request_id", "recipients", "payload", "state", "attempts",
    "last_error", "sent_at", "routed_at",
)  # fmt: skip


def outbox_enqueue_many(messages: list[OutboxMessage]) -> int:
    """Queue many notifications (from `outbox_message`) in one statement, in order.

    After commit one broker message asks the outbox sweep (`dispatch_due_notifications`)
    to fan them out to workers, instead of one broker message per notification.
    """
    count = insert_rows(
        OutboxMessage,
        _OUTBOX_FIELDS,
        (
            (m.created, m.event, m.request_id, json.dumps(m.recipients), json.dumps(m.payload),
             m.state, m.attempts, m.last_error, m.sent_at, m.routed_at)
            for m in messages
        ),
    )  # fmt: skip
    if count:
        job_after_commit("dispatch_due_notifications")
    return count


def request_payload(request: AccessRequest) -> dict:
    """What every notification about a request says."""
    return {
        "request_id": str(request.id),
        "user": request.user.get_username(),
        "roles": list(request.roles),
        "resources": list(request.resources),
        "state": request.state,
        "reason": request.reason,
        "access_starts": request.access_starts.isoformat() if request.access_starts else None,
        "access_expires": request.access_expires.isoformat() if request.access_expires else None,
    }
