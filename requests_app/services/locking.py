"""Fetching a request row under lock: the one way writers get hold of a request.

The lock order and the retry of whole transactions are the kernel's
(`accessportal.kernel.locking`): the request, then its reviews, then its grants, then the
audit chain head, taken last.
"""

from __future__ import annotations

import uuid

from django.utils import timezone

from accessportal.kernel.errors import NotFound, NotPending
from requests_app.models import AccessRequest


def request_lock(request_id: object) -> AccessRequest:
    """The request row, locked for the rest of the transaction; NotFound if absent."""
    try:
        pk = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound("no such access request") from None
    # of=("self",): lock the request row only, not the joined user row. no_key=True: FOR
    # NO KEY UPDATE still excludes every other writer of the request, but not the KEY
    # SHARE lock a foreign-key check takes. A plain FOR UPDATE (on either row) blocks every
    # insert that merely references the row (visibility rows, notifications) and deadlocks
    # against a transaction that holds the audit head while writing such rows.
    request = (
        AccessRequest.objects.select_for_update(of=("self",), no_key=True)
        .select_related("user")
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise NotFound("no such access request")
    return request


def ensure_pending(request: AccessRequest) -> None:
    """Refuse with NotPending unless the request is PENDING and not past its pending TTL."""
    if not request.is_pending:
        raise NotPending(f"this request is {request.state.lower()}, no longer pending")
    if not request.is_pending_at(timezone.now()):
        raise NotPending("this request expired before it was resolved")
