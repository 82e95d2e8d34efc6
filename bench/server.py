"""Serving the site under gunicorn for HTTP benchmarks, and a keep-alive HTTP client.

The server is started on a free loopback port with the bench settings and the database the
current process uses, and always stopped (its own process group) when the block ends.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
THREADS = 4


def gunicorn_available() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return True


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def database_url() -> str:
    """A DATABASE_URL for the database this process is connected to (tests: the test DB)."""
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        raise RuntimeError("HTTP benchmarks need PostgreSQL (a server process shares the DB)")
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    host = s["HOST"] or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{quote(s['NAME'])}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Served:
    """A running gunicorn: unpacks as (host, port); `pid` is the master's (its workers'
    CPU time: `bench.cpu_split`)."""

    host: str
    port: int
    pid: int  # the master

    def __iter__(self):
        return iter((self.host, self.port))


@contextmanager
def gunicorn(*, workers: int = WORKERS, threads: int = THREADS) -> Iterator[Served]:
    """Run the site (bench settings) under gunicorn; yields a `Served` ((host, port))."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable, "-m", "gunicorn", "accessportal.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", str(threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        _wait_ready("127.0.0.1", port, proc)
        yield Served("127.0.0.1", port, proc.pid)
    finally:
        _stop(proc)


def _wait_ready(host: str, port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(host, port, timeout=5)
            conn.request("GET", "/api/v1/bench/bare/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in time")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Client:
    """One keep-alive HTTP/1.1 connection with a token, as an integration would hold."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    def get(self, path: str) -> tuple[int, bytes]:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()
