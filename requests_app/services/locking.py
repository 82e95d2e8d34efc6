"""Fetching a request row under lock: the one way writers get hold of a request; and
retrying a service whose transaction lost a deadlock or a serialization conflict.

Lock order everywhere: the request, then its reviews, then its grants, then the audit chain
head (taken last, by `audit_record`, and held to commit).
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, transaction
from django.utils import timezone

from requests_app.errors import ConcurrentUpdate, NotFound, NotPending
from requests_app.models import AccessRequest

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# serialization_failure, deadlock_detected, lock_not_available (NOWAIT / lock_timeout)
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
ATTEMPTS = 3


def is_transient(error: BaseException) -> bool:
    """Whether a database error means "another transaction won, run me again"."""
    if not isinstance(error, OperationalError):
        return False
    if getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    # SQLite has one writer at a time; a writer that waited past its timeout gets this.
    return "database is locked" in str(error)


def retry_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run a top-level `@transaction.atomic` service again when the database aborted it for
    a deadlock or serialization failure; after ATTEMPTS tries, or when called inside an
    outer transaction (which cannot be replayed from here), raise ConcurrentUpdate (409).

    Put it above `@transaction.atomic`, so that each attempt is a whole new transaction.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempt = 1
        while True:
            try:
                return func(*args, **kwargs)
            except OperationalError as err:
                if not is_transient(err):
                    raise
                nested = transaction.get_connection().in_atomic_block
                logger.warning(
                    "%s lost a database conflict (attempt %d of %d%s): %s",
                    func.__qualname__,
                    attempt,
                    ATTEMPTS,
                    ", inside an outer transaction" if nested else "",
                    err,
                )
                if nested or attempt >= ATTEMPTS:
                    raise ConcurrentUpdate(
                        "another change to the same data happened at the same moment; "
                        "nothing was saved, please try again"
                    ) from err
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
                attempt += 1

    return wrapper


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
    if request.expires <= timezone.now():
        raise NotPending("this request expired before it was resolved")
