"""What every benchmark shares: timing, percentiles, the printed table, the results file."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation; samples need not be sorted."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99, mean of samples in seconds, as milliseconds rounded to microseconds."""
    return {
        "n": len(samples),
        "p50_ms": round(percentile(samples, 50) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "mean_ms": round(statistics.fmean(samples) * 1000, 3) if samples else float("nan"),
    }


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def interleaved(
    callables: dict[str, Callable[[int], Any]], iterations: int, warmup: int = 20
) -> dict[str, list[float]]:
    """Time each callable `iterations` times, alternating between them call by call, so a
    change in machine load (other people's processes) hits every one of them alike.

    Each callable gets the iteration number (to pick its input); returns seconds per call.
    """
    names = list(callables)
    for i in range(warmup):
        for name in names:
            callables[name](i)
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for i in range(iterations):
        for name in names:
            fn = callables[name]
            start = clock()
            fn(i)
            samples[name].append(clock() - start)
    return samples


def count_queries(fn: Callable[[], Any]) -> int:
    """How many SQL queries `fn` runs."""
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15_min": [round(x, 2) for x in load] if load else None,
        "database": connection.vendor,
    }
    cpu = Path("/proc/cpuinfo")
    if cpu.exists():
        for line in cpu.read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            info["database_version"] = cursor.fetchone()[0]
    return info


@dataclass
class Report:
    """One benchmark's figures: printed as a table and written as JSON."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    rows: list[list[Any]] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        cells = [[str(c) for c in self.header]] + [[_fmt(c) for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))] if cells else []
        lines = []
        for n, row in enumerate(cells):
            lines.append(
                "  ".join(
                    c.rjust(w) if n and i else c.ljust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def write(self, out_dir: Path | None = None) -> Path:
        out_dir = Path(out_dir or RESULTS_DIR)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.name}.json"
        body = {
            "benchmark": self.name,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "params": self.params,
            "results": self.results,
            "table": {"header": self.header, "rows": self.rows},
            "notes": self.notes,
        }
        path.write_text(json.dumps(body, indent=2, default=str) + "\n")
        return path

    def emit(self, out_dir: Path | None = None, echo: Callable[[str], Any] = print) -> Path:
        echo(f"\n== {self.name}")
        echo(self.table())
        for note in self.notes:
            echo(f"  {note}")
        path = self.write(out_dir)
        echo(f"  -> {path}")
        return path


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def requests_delete(requests) -> None:
    """Delete a benchmark's own requests (a queryset) with what hangs on them: permission
    rows, reviews, grants, notifications. Fixtures only: requests are never deleted in the
    product (the audit events they caused stay)."""
    from requests_app.models import (
        AccessRequestGroupObjectPermission,
        AccessRequestUserObjectPermission,
        Grant,
        OutboxMessage,
        Review,
    )

    AccessRequestUserObjectPermission.objects.filter(content_object__in=requests).delete()
    AccessRequestGroupObjectPermission.objects.filter(content_object__in=requests).delete()
    Review.objects.filter(request__in=requests).delete()
    Grant.objects.filter(request__in=requests).delete()
    OutboxMessage.objects.filter(request__in=requests).delete()
    requests.delete()
