"""Fixtures for accessctl: a CLI runner that calls `main(argv)` in-process, an isolated
config directory, and a small canned HTTP server for error paths the real API never takes.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accessctl.main import main

# The engine's test provisioner (a real plugin installed by entry point), for the provisioning
# column and `grants show` against the live server.
from tests.requests_app.provisioning.conftest import groups, plugin  # noqa: F401


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


class FakeTTY(io.StringIO):
    """A StringIO that says it is a terminal (for colour and spinner tests)."""

    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A clean environment: own XDG config dir and HOME, no ACCESSPORTAL_* or NO_COLOR."""
    for name in ("ACCESSPORTAL_URL", "ACCESSPORTAL_TOKEN", "NO_COLOR", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path / "home")}
    return env


@pytest.fixture
def run(cli_env):
    """run("request", "ls", env={...}, stdin="...") → Result(code, out, err).

    stdout/stderr are plain StringIOs (not terminals) unless tty=True.
    """

    def _run(
        *argv: str,
        env: dict | None = None,
        stdin: str = "",
        tty: bool = False,
        sleep=None,
        clock=None,
    ):
        out = FakeTTY() if tty else io.StringIO()
        err = FakeTTY() if tty else io.StringIO()
        environ = {**cli_env, **(env or {})}
        kwargs = {}
        if sleep is not None:
            kwargs["sleep"] = sleep
        if clock is not None:
            kwargs["clock"] = clock
        code = main(
            list(argv),
            stdout=out,
            stderr=err,
            stdin=io.StringIO(stdin),
            environ=environ,
            **kwargs,
        )
        return Result(code, out.getvalue(), err.getvalue())

    return _run


@pytest.fixture
def create_and_wait(run):
    """create_and_wait(env=..., sleep=...): `accessctl request create --roles db-admin
    --reason x --wait` run as `env`; `sleep` stands in for time.sleep while it waits."""

    def _create_and_wait(
        *, env: dict, sleep, roles: str = "db-admin", reason: str = "x", tty: bool = False
    ):
        return run(
            "request",
            "create",
            "--roles",
            roles,
            "--reason",
            reason,
            "--wait",
            env=env,
            tty=tty,
            sleep=sleep,
        )

    return _create_and_wait


@dataclass
class Canned:
    status: int = 200
    body: bytes | str | dict | list = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)


class FakeServer:
    """Answers each path with a canned response and records what it was sent."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Canned] = {}
        self.default = Canned(404, "<html><body>Not Found</body></html>", "text/html")
        self.calls: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.calls.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(body) if body else None,
                    }
                )
                path = self.path.split("?")[0]
                canned = server.routes.get((self.command, path)) or server.routes.get(
                    ("*", path), server.default
                )
                payload = canned.body
                if isinstance(payload, dict | list):
                    payload = json.dumps(payload)
                if isinstance(payload, str):
                    payload = payload.encode()
                self.send_response(canned.status)
                if canned.content_type:
                    self.send_header("Content-Type", canned.content_type)
                for key, value in canned.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, method: str, path: str, status: int = 200, body=b"", **kwargs) -> None:
        self.routes[(method, path)] = Canned(status, body, **kwargs)


@pytest.fixture
def fake_server():
    server = FakeServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
    server.thread.join()


@pytest.fixture
def closed_port():
    """A local port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the live server (tests/accessctl/test_live.py and its neighbours) ----------------------


@pytest.fixture
def _server_idle_at_teardown(transactional_db, live_server):
    """Wait for the live server's request threads before database access is blocked again.

    The server finishes a request (Django's request_finished → close_old_connections) after
    the client has read the answer; if the test ended in between, that late database call
    would hit pytest-django's blocker and print a traceback from the server thread.
    """
    yield
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "process_request_thread" in thread.name:
            thread.join(timeout=10)


@pytest.fixture
def as_user(live_server, base_policy, user):
    """as_user("alice") → environment for the CLI with alice's API token."""

    from rest_framework.authtoken.models import Token

    def _env(name: str) -> dict:
        token, _ = Token.objects.get_or_create(user=user(name))
        return {"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": token.key}

    return _env


@pytest.fixture
def alice(as_user):
    return as_user("alice")


@pytest.fixture
def bob(as_user):
    return as_user("bob")
