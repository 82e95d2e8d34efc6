"""Fetching a request row under lock: the one way writers get hold of a request.

Lock order everywhere: the request, then its reviews, then its grants.
"""

from __future__ import annotations

import uuid

from django.utils import timezone

from requests_app.errors import NotFound, NotPending
from requests_app.models import AccessRequest


def request_lock(request_id: object) -> AccessRequest:
    """The request row, locked for the rest of the transaction; NotFound if absent."""
    try:
        pk = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound("no such access request") from None
    # of=("self",): lock the request row only. Without it PostgreSQL also locks the joined
    # user row FOR UPDATE, which blocks every insert that references that user (a foreign
    # key check takes KEY SHARE) and deadlocks with a transaction holding the audit head.
    request = (
        AccessRequest.objects.select_for_update(of=("self",))
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
    if request.expires <= timezone.now():
        raise NotPending("this request expired before it was resolved")
