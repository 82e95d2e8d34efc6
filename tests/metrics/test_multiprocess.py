"""Metrics under gunicorn with several workers (prometheus_client's multiprocess mode):
/metrics adds up what every worker process counted, those that exited included, and a
previous run's files are wiped when the server starts (deploy/gunicorn.conf.py)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.metrics.support import value

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120  # seconds: a bound on waiting for gunicorn, not a target
REQUESTS = 20
STALE = """
from prometheus_client import Counter
Counter(
    "django_http_responses_total_by_status_view_method", "left by a previous run",
    ["status", "view", "method"],
).labels("200", "healthz", "GET").inc(1000)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn with 2 workers, each replaced after 4 requests, in development mode (so
    /metrics answers loopback); yields (base URL, multiprocess folder)."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_"))} | {
        "ACCESSPORTAL_MODE": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "GUNICORN_WORKERS": "2",
        "GUNICORN_BIND": f"127.0.0.1:{_free_port()}",
    }
    # A counter file of an earlier run, as a crashed server would leave it.
    subprocess.run([sys.executable, "-c", STALE], env=env, check=True, timeout=60)
    assert list(folder.glob("counter_*.db"))
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [str(gunicorn), "accessportal.wsgi", "-c", "deploy/gunicorn.conf.py"]
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [*command, "--max-requests", "4"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://{env['GUNICORN_BIND']}"
    try:
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                if _get(f"{base}/metrics")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.3)
        yield base, folder
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_counts_of_every_worker_process_add_up(gunicorn):
    base, folder = gunicorn
    for _ in range(REQUESTS):
        assert _get(f"{base}/healthz")[0] == 200
    status, text = _get(f"{base}/metrics")
    assert status == 200
    # Exactly the requests made: every process's share, none of the stale file's 1000.
    total = value(
        text,
        "django_http_responses_total_by_status_view_method_total",
        status="200",
        view="healthz",
        method="GET",
    )
    assert total == REQUESTS
    # Served by more than two processes (workers are replaced after 4 requests), so the
    # sum really came from several files.
    pids = {re.search(r"_(\d+)\.db$", p.name).group(1) for p in folder.glob("counter_*.db")}
    assert len(pids) > 2
    # The state gauges are there once (no per-process copies).
    assert text.count("\naccessportal_metrics_db_ok ") == 1
