"""What a scrape exposes: every process's counters and histograms, and (web only) the
state gauges.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn, Celery's prefork pool), prometheus_client
writes each process's values to files in that folder and a scrape adds them up
(`MultiProcessCollector`); without it, the values of this process only. The folder must
be emptied when the server starts (deploy/gunicorn.conf.py, the worker's `worker_init`).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def multiprocess_dir_ensure() -> None:
    """Create the multiprocess folder if it is missing: prometheus_client fails on the
    first value a process records when it is (a `manage.py` command run with the web's
    environment after a reboot emptied /run, say)."""
    folder = multiprocess_dir()
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)


def multiprocess_dir_wipe() -> None:
    """Create the multiprocess folder if needed and delete the files of an earlier run
    (their counters would be added to this run's)."""
    folder = multiprocess_dir()
    if folder:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def process_dead(pid: int) -> None:
    """prometheus_client's bookkeeping for a process that exited (live gauges)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)


class _ThisProcess(Collector):
    """prometheus_client's default registry (this process's metrics) inside another one."""

    def describe(self):
        return []

    def collect(self):
        yield from REGISTRY.collect()


def scrape_registry(*extra: Collector) -> CollectorRegistry:
    """A registry for one scrape: the processes' metrics, then `extra` collectors."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for collector in extra:
        registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """(body, content type) in the format the scraper asked for (text or OpenMetrics)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
