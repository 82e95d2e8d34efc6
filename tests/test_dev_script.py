"""`python3 dev.py demo` as a new user runs it: --help only prints, the address argument is
served and the e-mails' links point at it, and SIGTERM stops every process it started.

dev.py runs as a real subprocess (with the venv already in place, its install step does
nothing) against a SQLite file of its own and a free port.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.server_process import free_port, port_answers

# The demo runs on its own SQLite file (README's quick start): nothing to repeat against
# PostgreSQL.
pytestmark = pytest.mark.sqlite_pass

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 240  # seconds: a bound on waits (migrations on a busy machine), not a target


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "NOTIFY_", "CELERY_", "ACCESSPORTAL_"))
        and k != "DATABASE_URL"
    }
    return env | {"DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}", **extra}


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds `marker` (this test's database)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


class Demo:
    """`python3 dev.py demo ... 127.0.0.1:PORT`, its output in a file."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.env = _environment(tmp_path, **env)
        self.log = tmp_path / "demo.log"
        self.base = f"http://127.0.0.1:{self.port}"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "dev.py", "demo", *args, f"127.0.0.1:{self.port}"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_sign_in_page(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.output()
            try:
                with urllib.request.urlopen(f"{self.base}/accounts/login/", timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        pytest.fail(f"the demo did not answer in {DEADLINE}s:\n{self.output()}")

    def post(self, path: str, body: dict, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill_leftovers(self) -> None:
        for pid in _processes_with(self.env["DATABASE_URL"]):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def demo_run(tmp_path):
    runs: list[Demo] = []

    def _start(*args: str, **env: str) -> Demo:
        runs.append(Demo(tmp_path, *args, **env))
        return runs[-1]

    yield _start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
        run.kill_leftovers()


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_demo_help_prints_usage_and_starts_nothing(tmp_path, flag):
    result = subprocess.run(
        [sys.executable, "dev.py", "demo", flag],
        cwd=ROOT,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "usage: python3 dev.py demo" in result.stdout
    assert "[HOST:]PORT" in result.stdout and "0.0.0.0:8000" in result.stdout
    assert not (tmp_path / "demo.sqlite3").exists(), "--help migrated a database"


def test_a_malformed_address_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "dev.py", "demo", "--no-worker", "not-an-address"],
        cwd=ROOT,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is not PORT or HOST:PORT" in result.stderr
    assert not (tmp_path / "demo.sqlite3").exists()


def test_sigterm_stops_the_web_server_and_frees_the_port(demo_run):
    demo = demo_run("--no-worker")
    demo.wait_for_sign_in_page()

    assert demo.stop() == 0
    assert not port_answers(demo.port), "runserver still holds the port after dev.py ended"
    assert _processes_with(demo.env["DATABASE_URL"]) == []


def test_sigterm_stops_the_worker_and_beat_too(demo_run):
    demo = demo_run()
    demo.wait_for_sign_in_page()
    deadline = time.monotonic() + DEADLINE
    while "beat: Starting" not in demo.output() or " ready." not in demo.output():
        assert time.monotonic() < deadline, demo.output()
        time.sleep(0.5)
    # dev.py, runserver's reloader and its serving child, the worker, beat
    assert len(_processes_with(demo.env["DATABASE_URL"])) >= 5

    assert demo.stop() == 0
    assert not port_answers(demo.port)
    assert _processes_with(demo.env["DATABASE_URL"]) == []


def test_email_links_point_at_the_address_served(demo_run):
    """Notifications sent inline (eager tasks) print to the demo's console: the link to the
    request carries the port the demo serves, not the default 8000."""
    demo = demo_run("--no-worker", CELERY_TASK_ALWAYS_EAGER="1")
    demo.wait_for_sign_in_page()
    token = demo.post("/api/v1/auth/token/", {"username": "alice", "password": "demo-password"})
    created = demo.post(
        "/api/v1/requests/",
        {"roles": ["db-admin"], "reason": "INC-7: link check"},
        token=token["token"],
    )

    link = f"http://127.0.0.1:{demo.port}/requests/{created['id']}/"
    deadline = time.monotonic() + DEADLINE
    while link not in demo.output():
        assert time.monotonic() < deadline, demo.output()
        time.sleep(0.5)
    assert "127.0.0.1:8000" not in demo.output().split("Access Portal demo at", 1)[1]
    assert demo.stop() == 0


def test_a_port_already_taken_ends_the_demo_with_an_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "dev.py", "demo", "--no-worker", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert result.returncode != 0
    assert "already in use" in result.stdout + result.stderr
