"""The clock the request tests travel on: one fixed start and the steps they take from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
S = timedelta(seconds=1)


def at(moment):
    """Freeze the clock at `moment` for the `with` block."""
    return time_machine.travel(moment, tick=False)
