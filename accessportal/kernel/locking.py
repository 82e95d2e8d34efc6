"""Retrying a service whose transaction lost a deadlock or a serialization conflict, or its
database connection before COMMIT.

Lock order everywhere: the request, then its reviews, then its grants, then the audit chain
head (taken last, by `audit_record` / `audit_record_many`, and held to commit).

The head is the one global lock: every audited write in the system takes it, so a
transaction holds it only for its append and its COMMIT. All other work comes before the
append, in the same transaction when it must commit with the change (a new request's
visibility rows, so its reviewers see it the moment it exists; the resync of every pending
request after a policy change, so reviewers who lost eligibility stop seeing requests at
once), or after commit as a job (`services.jobs.job_after_commit`). A service that writes
several events collects `AuditEntry`s and appends them together at its end
(`resolve_locked(audit=...)`, `revoke_locked`). Waiting for any row lock while holding
the head would make every writer wait, and could deadlock against a writer that holds
that row and waits for the head.

One write may follow the append: a callback registered with `before_service_commit` (an
`Idempotency-Key` claim marked "committed", requests_app.api.idempotency) runs just before
the outermost service transaction ends, so that it commits iff the service's work does. It
writes only a row of its caller's own, which no other transaction holds for more than one
statement.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from django.db import InterfaceError, OperationalError, transaction

from accessportal.kernel.errors import ConcurrentUpdate, DatabaseUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# serialization_failure, deadlock_detected, lock_not_available (NOWAIT / lock_timeout)
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
ATTEMPTS = 3

# Set while a retry_on_conflict service runs in this thread: a service it calls lets a
# transient error through, so that the outermost one replays its whole transaction.
_replaying = threading.local()

# Callbacks run inside the transaction of every outermost service, just before it ends.
_before_commit: ContextVar[tuple[Callable[[Any], None], ...]] = ContextVar(
    "before_service_commit", default=()
)


@contextlib.contextmanager
def before_service_commit(callback: Callable[[Any], None]) -> Iterator[None]:
    """While in this block, every outermost `retry_on_conflict` service calls
    `callback(its result)` inside its own transaction, after its work and before the
    transaction ends: on every attempt, so a write of the callback commits iff the service's
    work does (an attempt rolled back for a conflict rolls it back too, and the replay
    writes it again). An exception of the callback rolls the work back. A service called by
    another one does not call it (the outermost does, once its work is all done)."""
    token = _before_commit.set((*_before_commit.get(), callback))
    try:
        yield
    finally:
        _before_commit.reset(token)


def is_transient(error: BaseException) -> bool:
    """Whether a database error means "another transaction won, run me again"."""
    if not isinstance(error, OperationalError):
        return False
    if getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    # SQLite has one writer at a time; a writer that waited past its timeout gets this.
    return "database is locked" in str(error)


class _StatementFailures:
    """A database execute wrapper that keeps the error of a statement of this service's
    transaction that lost its connection (the driver reports it closed). Statements run
    before COMMIT, so such a transaction was never committed: nothing of it was saved. An
    error raised by COMMIT itself passes no statement: the server may have committed, and
    it is never replayed. Statements of commit hooks (after COMMIT, outside the atomic
    block) do not count either."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def __call__(self, execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except (OperationalError, InterfaceError) as err:
            wrapper = context["connection"]
            raw = wrapper.connection
            closed = raw is None or getattr(raw, "closed", False)
            if wrapper.in_atomic_block and closed and self.error is None:
                self.error = err  # the first: a savepoint's rollback may fail after it
            raise


def retry_on_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run a top-level `@transaction.atomic` service again when the database aborted it for
    a deadlock or serialization failure; after ATTEMPTS tries, or when called inside an
    outer transaction (which cannot be replayed from here), raise ConcurrentUpdate (409).

    A connection lost before COMMIT (the server ended the session, the network dropped) is
    run again on a fresh connection, as safely: nothing was saved. After ATTEMPTS tries,
    DatabaseUnavailable (503). A connection lost at COMMIT or after is never replayed: the
    change may be saved, and running it again could make a duplicate.

    Called by another retry_on_conflict service, inside that one's transaction, it leaves
    the error to the outer one, which replays everything (a service composed of services,
    such as an extension creating its request, is retried as a whole).

    Put it above `@transaction.atomic`, so that each attempt is a whole new transaction.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if getattr(_replaying, "active", False) and transaction.get_connection().in_atomic_block:
            return func(*args, **kwargs)  # the enclosing service replays on a conflict
        outermost = not getattr(_replaying, "active", False)
        _replaying.active = True
        try:
            return _run_with_retries(func, args, kwargs)
        finally:
            if outermost:
                _replaying.active = False

    return wrapper


def _run_with_retries(func, args, kwargs):
    attempt = 1
    while True:
        failures = _StatementFailures()
        try:
            with transaction.get_connection().execute_wrapper(failures):
                return _attempt(func, args, kwargs)
        except (OperationalError, InterfaceError) as err:
            if err is failures.error:
                _reconnect_or_raise(func, err, attempt)
                attempt += 1
                continue
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


def _attempt(func, args, kwargs):
    """One attempt of the service; with `before_service_commit` callbacks, in a transaction
    of its own around the service's (which becomes a savepoint) so that they run inside it,
    after the service's work."""
    callbacks = _before_commit.get()
    if not callbacks:
        return func(*args, **kwargs)
    with transaction.atomic():
        result = func(*args, **kwargs)
        for callback in callbacks:
            callback(result)
    return result


def _reconnect_or_raise(func, err: BaseException, attempt: int) -> None:
    connection = transaction.get_connection()
    logger.warning(
        "%s lost its database connection before commit (attempt %d of %d): %s",
        func.__qualname__,
        attempt,
        ATTEMPTS,
        err,
    )
    if connection.in_atomic_block:
        raise err  # an outer transaction is lost with it; only its owner can start over
    if attempt >= ATTEMPTS:
        raise DatabaseUnavailable(
            "the database connection was lost; nothing was saved, please try again"
        ) from err
    connection.close()  # the next statement opens a fresh connection
    time.sleep(random.uniform(0, 0.05 * 2**attempt))


# The class id of the one advisory lock every provisioning sync takes (pg_advisory_xact_lock
# (class, 0)): "AP" "PA" (Access Portal, provisioning all). A per-user sync takes its
# shared side (requests_app.services.provisioning.sync.lock_users), a sync of whole targets
# or of many users its exclusive side. Here, below both apps, so that a policy apply
# (policies_app) can take it before anything in its transaction syncs users.
PROVISION_ALL_LOCK_CLASS = 0x41505041


def provisioning_lock_all() -> None:
    """Hold the exclusive side of the provisioning sync lock until the transaction ends:
    every per-user sync waits for this transaction, and this one for those running.

    A transaction that will sync whole targets takes it before it syncs any user: taking
    the shared side (and user locks) first and the exclusive side later deadlocks with a
    concurrent per-user sync holding the shared side and waiting for one of those user
    locks. A transaction never conflicts with its own locks, so syncs of users after this
    pass straight through. PostgreSQL only (SQLite has one writer at a time)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [PROVISION_ALL_LOCK_CLASS])


# The class id of the user-name advisory locks (pg_advisory_xact_lock(class, hash of the
# lowercased name)): "AP" "UN" (Access Portal, user name).
USERNAME_LOCK_CLASS = 0x4150554E


def username_lock(username: str) -> None:
    """Hold a lock on a user name, whatever its case, until the transaction ends: a service
    that checks a name is free (case-insensitively) and then creates or renames an account
    takes it first, so that two at once cannot both find the name free ("dan" and "Dan"
    from two SCIM pushes, or the same name twice). PostgreSQL only (SQLite has one writer
    at a time)."""
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(lower(%s)))",
            [USERNAME_LOCK_CLASS, username],
        )
