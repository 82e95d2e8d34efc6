"""A request's version, and `If-Match`: act only on the request as the caller saw it.

The version is a digest of what every change to a request touches: its `updated` (bumped
by every transition and every save of the row), its state, and its reviews (a review that
lands, or is voided, changes it without saving the request). Services compare it right
after taking the request's row lock (`services.locking.request_lock`), in their own
transaction, so nothing can change the request between the comparison and the change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection

from accessportal.kernel.errors import DomainError
from requests_app.models import AccessRequest


class PreconditionFailed(DomainError):
    """`If-Match` named a version the request no longer has (HTTP 412)."""

    status = 412
    code = "precondition_failed"


def request_etag(request: AccessRequest) -> str:
    """The request's current version as a strong entity tag (quoted). Uses the prefetched
    reviews when there are some (the API's reads), else reads them (under the lock)."""
    reviews = sorted(
        (str(review.pk), review.voided_at.isoformat() if review.voided_at else "")
        for review in request.reviews.all()
    )
    parts = [str(request.pk), request.state, request.updated.isoformat() if request.updated else ""]
    parts += [f"{pk}/{voided}" for pk, voided in reviews]
    return '"' + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32] + '"'


def ensure_if_match(request: AccessRequest, if_match: Collection[str] | None) -> None:
    """Refuse with PreconditionFailed unless `if_match` (tags from an `If-Match` header;
    None: no header) names the request's current version, or is `*`. Call it with the
    request row locked."""
    if if_match is None or "*" in if_match:
        return
    if request_etag(request) not in if_match:
        raise PreconditionFailed(
            "this request changed since you read it (If-Match does not match its ETag); "
            "read it again and decide on what it is now"
        )
