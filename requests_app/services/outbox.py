"""Notifications as outbox rows, written in the transaction of the change (invariant 7).

Dispatch happens after commit, in workers, so a broker outage never fails or loses a
request: the row is there until a worker delivers it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from requests_app.models import AccessRequest, OutboxMessage
from requests_app.services.jobs import job_after_commit


def outbox_enqueue(
    *, event: str, request_id: object, recipients: Iterable[str], payload: dict
) -> OutboxMessage:
    """Queue one notification of `event` about a request for `recipients` (user names).

    A worker dispatches it after commit; if the broker is down, the outbox sweep does.
    """
    message = OutboxMessage.objects.create(
        created=timezone.now(),
        event=event,
        request_id=request_id,
        recipients=sorted(set(recipients)),
        payload=payload,
    )
    job_after_commit("dispatch_outbox_message", message_id=message.pk)
    return message


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
