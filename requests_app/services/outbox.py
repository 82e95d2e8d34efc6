"""Notifications as outbox rows, written in the transaction of the change (invariant 7).

Dispatch happens after commit, in workers, so a broker outage never fails or loses a
request: the row is there until a worker delivers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from django.utils import timezone

from accessportal.kernel.bulk_insert import insert_rows
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.services.jobs import job_after_commit


class OutboxNotice(NamedTuple):
    """A notification to write with `outbox_enqueue_many`, as plain values: what
    `outbox_message` holds, without a model instance (a sweep writes 100k of them)."""

    created: datetime
    event: str
    request_id: object
    recipients: list[str]
    payload: dict


def outbox_notice(
    *, event: str, request_id: object, recipients: Iterable[str], payload: dict
) -> OutboxNotice:
    """A notification of `event` about a request for `recipients` (user names)."""
    return OutboxNotice(timezone.now(), event, request_id, sorted(set(recipients)), payload)


def outbox_message(
    *, event: str, request_id: object, recipients: Iterable[str], payload: dict
) -> OutboxMessage:
    """An unsaved notification of `event` about a request for `recipients` (user names)."""
    notice = outbox_notice(
        event=event, request_id=request_id, recipients=recipients, payload=payload
    )
    return OutboxMessage(**notice._asdict())


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
_STATE_FIELDS = _OUTBOX_FIELDS[5:]  # what a new message starts with: the model's defaults


def outbox_enqueue_many(messages: list[OutboxMessage | OutboxNotice]) -> int:
    """Queue many notifications (from `outbox_message` or `outbox_notice`) in one
    statement, in order. A notice starts as a new OutboxMessage does (its fields' defaults).

    After commit one broker message asks the outbox sweep (`dispatch_due_notifications`)
    to fan them out to workers, instead of one broker message per notification.
    """
    fresh = tuple(OutboxMessage._meta.get_field(name).get_default() for name in _STATE_FIELDS)
    count = insert_rows(
        OutboxMessage,
        _OUTBOX_FIELDS,
        (
            (m.created, m.event, m.request_id, json.dumps(m.recipients), json.dumps(m.payload),
             *(fresh if type(m) is OutboxNotice else
               (m.state, m.attempts, m.last_error, m.sent_at, m.routed_at)))
            for m in messages
        ),
    )  # fmt: skip
    if count:
        job_after_commit("dispatch_due_notifications")
    return count


def request_payload(request: AccessRequest) -> dict:
    """What every notification about a request says."""
    return request_payload_of(
        id=request.id,
        username=request.user.get_username(),
        roles=request.roles,
        resources=request.resources,
        state=request.state,
        reason=request.reason,
        access_starts=request.access_starts,
        access_expires=request.access_expires,
    )


def request_payload_of(
    *, id, username, roles, resources, state, reason, access_starts, access_expires
) -> dict:
    """`request_payload` from a request's values (a sweep's rows, not model instances)."""
    return {
        "request_id": str(id),
        "user": username,
        "roles": list(roles),
        "resources": list(resources),
        "state": state,
        "reason": reason,
        "access_starts": access_starts.isoformat() if access_starts else None,
        "access_expires": access_expires.isoformat() if access_expires else None,
    }
