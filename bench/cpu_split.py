"""Where a throughput run's time goes: CPU per call, and waits on locks in the database.

Two questions decide what can make an endpoint faster under load on a small machine: is
it short of CPU (then only doing less per call helps), or are its calls queued behind a
lock that one of them holds (the audit chain head, invariant 13; then more cores would
not help, and shorter lock holding would)? Measured alongside each wrk run:

- **CPU per call**: the clock ticks the gunicorn workers and the PostgreSQL server
  processes used during the run (Linux `/proc/<pid>/stat`, user + system), divided by
  the calls wrk completed, in milliseconds. When the machine is saturated, the ratio of
  two endpoints' throughputs is close to the inverse ratio of their CPU per call.
- **Machine busy**: the share of the machine's CPU (all cores, `/proc/stat`) in use
  during the run, everything included (wrk too).
- **Backends**: `pg_stat_activity` sampled every `SAMPLE_SECONDS` by a thread with its
  own connection: per sample, the server's backends of this database running a
  statement, waiting on a heavyweight lock (`wait_event_type = 'Lock'`: a row or
  transaction lock such as the audit head's), or idle inside a transaction (the Python
  side working between statements while holding its locks). Means over the samples.

Linux only (`/proc`). The database's CPU is read only where PostgreSQL runs on this
machine (a loopback or socket connection); elsewhere it is reported as None.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.db import connection

SAMPLE_SECONDS = 0.02
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _stat(pid_dir: Path) -> tuple[str, int, int] | None:
    """(command name, parent pid, user + system ticks) of one process, or None if gone."""
    try:
        text = (pid_dir / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


def _database_is_local() -> bool:
    host = connection.settings_dict.get("HOST") or ""
    return host in ("", "localhost", "127.0.0.1", "::1") or host.startswith("/")


def process_ticks(master_pid: int) -> dict[str, dict[int, int]]:
    """Ticks used so far, by pid, by the children of `master_pid` (gunicorn's workers) and
    by the processes named postgres (none when the database is not on this machine)."""
    out: dict[str, dict[int, int]] = {"web": {}, "database": {}}
    local = _database_is_local()
    for pid_dir in Path("/proc").glob("[0-9]*"):
        found = _stat(pid_dir)
        if found is None:
            continue
        name, parent, ticks = found
        if parent == master_pid:
            out["web"][int(pid_dir.name)] = ticks
        elif local and (name == "postgres" or name.startswith("postgres:")):
            out["database"][int(pid_dir.name)] = ticks
    return out


def _used(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    """Ticks each process alive at the end used since `before`, by pid (a process that
    started meanwhile counts whole; one that ended meanwhile is not counted: the
    benchmarks' web workers and database connections live through a run)."""
    return {pid: ticks - before.get(pid, 0) for pid, ticks in after.items()}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) ticks of all cores so far (`/proc/stat`'s first line; guest time is
    already in user and nice, so it is left out)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class BackendSampler(threading.Thread):
    """Samples this database's other backends until `stop()`; `result()` gives the means."""

    QUERY = (
        "SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT"
        " FROM 'Lock'),"
        " count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock'),"
        " count(*) FILTER (WHERE state = 'idle in transaction')"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND backend_type = 'client backend'"
    )

    def __init__(self) -> None:
        super().__init__(daemon=True)
        s = connection.settings_dict
        self._conninfo = psycopg.conninfo.make_conninfo(
            dbname=s["NAME"],
            user=s["USER"] or None,
            password=s.get("PASSWORD") or None,
            host=s["HOST"] or None,
            port=str(s["PORT"]) if s.get("PORT") else None,
        )
        self._halt = threading.Event()
        self._totals = [0, 0, 0]
        self._samples = 0

    def run(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            while not self._halt.is_set():
                row = conn.execute(self.QUERY).fetchone()
                for i, value in enumerate(row):
                    self._totals[i] += value
                self._samples += 1
                self._halt.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def result(self) -> dict:
        n = max(self._samples, 1)
        running, lock_waiting, idle_in_transaction = (round(t / n, 2) for t in self._totals)
        return {
            "samples": self._samples,
            "running": running,
            "waiting_on_lock": lock_waiting,
            "idle_in_transaction": idle_in_transaction,
        }


@contextmanager
def measured(master_pid: int) -> Iterator[dict]:
    """Measure the block (a wrk run); the yielded dict is filled when the block ends with
    ticks used (in all, and by each web worker), the machine's busy share and the backend
    means. `per_call(split, calls)`
    turns the ticks into milliseconds per call."""
    out: dict = {}
    sampler = BackendSampler()
    before, machine_before = process_ticks(master_pid), machine_ticks()
    sampler.start()
    try:
        yield out
    finally:
        sampler.stop()
        after, machine_after = process_ticks(master_pid), machine_ticks()
        busy = machine_after[0] - machine_before[0]
        total = machine_after[1] - machine_before[1]
        used = {key: _used(before[key], after[key]) for key in after}
        out["web_ticks_by_pid"] = used["web"]  # balanced_wrk: did one worker do it all?
        out["ticks"] = {
            key: sum(by_pid.values()) if by_pid else None for key, by_pid in used.items()
        }
        out["machine_busy"] = round(busy / total, 2) if total else None
        out["backends"] = sampler.result()


def per_call(split: dict, calls: int) -> dict:
    """CPU milliseconds per call of the web workers and of the database server."""
    return {
        key: None if ticks is None or not calls else round(ticks * TICK_MS / calls, 3)
        for key, ticks in split["ticks"].items()
    }
