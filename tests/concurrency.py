"""Running service calls at the same instant in real threads, each on its own connection.

Django gives every thread its own database connection, so N threads are N PostgreSQL
sessions competing for the same rows, as N web workers would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

# A safety net so a hung thread fails the run instead of blocking CI; no test asserts on
# timing. Lock waits end in milliseconds, a deadlock in deadlock_timeout (1 s by default).
JOIN_TIMEOUT = 300


@dataclass
class Outcome:
    """What one concurrent call returned, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_together(*calls: Callable[[], Any]) -> list[Outcome]:
    """Start every call at once (a Barrier releases them together); return their outcomes
    in the order given. Each thread closes its own connection when done."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def work(outcome: Outcome, call: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            outcome.value = call()
        except BaseException as err:  # noqa: BLE001 - reported to the test, not swallowed
            outcome.error = err
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(outcome, call), daemon=True)
        for outcome, call in zip(outcomes, calls, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a concurrent call never finished"
    return outcomes


def blockers(pid: int) -> set[int]:
    """The sessions (PostgreSQL backend pids) `pid` waits for."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_blocking_pids(%s)", [pid])
        return set(cursor.fetchone()[0])


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll (bounded: a safety net, not a timing assertion) until `condition()` holds."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting until {what}"
        time.sleep(0.02)
