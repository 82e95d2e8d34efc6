"""The readiness checks behind /readyz: small functions, each cheap and bounded.

A check returns a short message when it passes and raises `CheckFailed` with one when it
does not; `run_checks` times each one. Messages never carry a secret: unexpected errors are
named by their class only (the details go to the log), never a DSN or broker URL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accessportal.celery import app as celery_app
from requests_app.selectors.health import (
    heartbeats_last_seen,
    outbox_backlog,
    outbox_oldest_undelivered,
)
from requests_app.services.heartbeats import BEAT, WORKER

logger = logging.getLogger(__name__)

OK, FAIL, SKIPPED = "ok", "fail", "skipped"


class CheckFailed(Exception):
    """A check's answer is no; the message says why, in a few words and without secrets."""


class CheckSkipped(Exception):
    """The check does not apply to this configuration (e.g. eager tasks: no broker)."""


@dataclass(frozen=True)
class Result:
    name: str
    state: str
    ms: float
    message: str

    def as_json(self) -> dict:
        return {"name": self.name, "state": self.state, "ms": self.ms, "message": self.message}


def _age(seconds: float) -> str:
    return f"{seconds:.0f} s ago"


def check_database() -> str:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "answered SELECT 1"


# The positive answer of the migrations check, per process: (monotonic time, True).
_migrations_ok_at: float | None = None


def check_migrations() -> str:
    """No migration left unapplied. Loading the migration graph costs tens of
    milliseconds, so a positive answer is kept HEALTH_MIGRATIONS_CACHE seconds; a negative
    one is never kept (the next probe looks again)."""
    global _migrations_ok_at
    now = time.monotonic()
    if _migrations_ok_at is not None and now - _migrations_ok_at < settings.HEALTH_MIGRATIONS_CACHE:
        return "all applied (cached)"
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        first = plan[0][0]
        raise CheckFailed(f"{len(plan)} unapplied, first {first.app_label}.{first.name}")
    _migrations_ok_at = now
    return "all applied"


def reset_migrations_cache() -> None:
    global _migrations_ok_at
    _migrations_ok_at = None


def check_broker() -> str:
    """The broker accepts a connection and answers (Redis: PING) within
    HEALTH_BROKER_TIMEOUT seconds; skipped when tasks run eagerly, in-process."""
    if celery_app.conf.task_always_eager:
        raise CheckSkipped("tasks run in-process (CELERY_TASK_ALWAYS_EAGER): no broker")
    timeout = settings.HEALTH_BROKER_TIMEOUT
    options = dict(celery_app.conf.broker_transport_options or {})
    # The thread's join below is the bound; the client's own timeouts come a second later,
    # only to end the thread, so that a broker that accepts and never answers is always
    # told as "no answer", not as whichever of the two timers fired first.
    options.update(socket_connect_timeout=timeout + 1, socket_timeout=timeout + 1)
    outcome: list[BaseException | None] = []

    def ping() -> None:
        try:
            with celery_app.connection_for_write(
                connect_timeout=timeout + 1, transport_options=options
            ) as conn:
                conn.ensure_connection(max_retries=0, timeout=timeout + 1)
                conn.default_channel  # noqa: B018 - opening the channel pings Redis
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure is an answer of no
            outcome.append(exc)

    # A thread bounds the wait whatever the transport does with its timeouts.
    worker = threading.Thread(target=ping, name="readyz-broker", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise CheckFailed(f"no answer within {timeout:g} s")
    if outcome[0] is not None:
        logger.warning("readyz: the broker check failed", exc_info=outcome[0])
        raise CheckFailed(f"unreachable ({type(outcome[0]).__name__})")
    return f"answered within {timeout:g} s"


def check_heartbeats() -> str:
    """A worker ran the heartbeat task, and one sent by beat, within
    HEALTH_HEARTBEAT_MAX_AGE seconds (what each means: docs/operations.md)."""
    max_age = settings.HEALTH_HEARTBEAT_MAX_AGE
    seen = heartbeats_last_seen()
    now = timezone.now()
    parts, stale = [], []
    for name in (WORKER, BEAT):
        at = seen.get(name)
        if at is None:
            stale.append(f"{name} never seen")
            continue
        age = (now - at).total_seconds()
        (stale if age > max_age else parts).append(f"{name} {_age(age)}")
    if stale:
        raise CheckFailed(f"stale (max {max_age} s): " + ", ".join(stale + parts))
    return ", ".join(parts)


def check_outbox() -> str:
    """Notification work due now under HEALTH_OUTBOX_BACKLOG_MAX, and the oldest
    undelivered message younger than HEALTH_OUTBOX_OLDEST_MAX_AGE seconds."""
    limit = settings.HEALTH_OUTBOX_BACKLOG_MAX
    max_age = settings.HEALTH_OUTBOX_OLDEST_MAX_AGE
    now = timezone.now()
    backlog = outbox_backlog(now=now, limit=limit)
    oldest = outbox_oldest_undelivered()
    age = (now - oldest).total_seconds() if oldest else 0.0
    shown = f"more than {limit}" if backlog > limit else str(backlog)
    summary = f"backlog {shown}, oldest undelivered " + (_age(age) if oldest else "none")
    if backlog > limit:
        raise CheckFailed(f"{summary} (backlog max {limit})")
    if age > max_age:
        raise CheckFailed(f"{summary} (age max {max_age} s)")
    return summary


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "heartbeats": check_heartbeats,
    "outbox": check_outbox,
}
# Checks that read the database are not run when it does not answer (their failure would
# only repeat the first one's).
_NEEDS_DATABASE = {"migrations", "heartbeats", "outbox"}


def run_checks() -> list[Result]:
    """Every check, in order, each timed; a failure never stops the others."""
    results: list[Result] = []
    database_ok = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        if name in _NEEDS_DATABASE and not database_ok:
            state, message = FAIL, "not checked: the database does not answer"
        else:
            try:
                state, message = OK, check()
            except CheckSkipped as skip:
                state, message = SKIPPED, str(skip)
            except CheckFailed as failed:
                state, message = FAIL, str(failed)
            except Exception as exc:  # noqa: BLE001 - a probe answers, it does not crash
                logger.warning("readyz: the %s check failed", name, exc_info=True)
                state, message = FAIL, f"error ({type(exc).__name__})"
        if name == "database" and state == FAIL:
            database_ok = False
        ms = round((time.perf_counter() - started) * 1000, 1)
        results.append(Result(name, state, ms, message))
    return results
