"""A real OpenID provider for the sign-in tests: node's `oidc-provider` (tests/identity/op/,
installed by `npm ci --prefix tests/identity/op`, as .ci/run does) on a free loopback port.

`OpenIDProvider.start(...)` waits for its discovery document; `mode("tamper")` makes its
token endpoint misbehave (op/server.mjs lists the modes); `users` is the JSON file its
accounts are read from at every sign-in, so a test changes a user's groups by rewriting it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.server_process import free_port

OP_DIR = Path(__file__).resolve().parent / "op"
CLIENT_ID = "access-portal"
CLIENT_SECRET = "op-test-secret-" + "x" * 32


def node_or_skip() -> str:
    """node, with the OP's packages installed; missing: skip, or fail when
    ACCESSPORTAL_REQUIRE_SERVICES=1 (CI)."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node (>= 20.19) is not installed"
    elif not (OP_DIR / "node_modules" / "oidc-provider").is_dir():
        problem = f"the test OP's packages are missing: run npm ci --prefix {OP_DIR}"
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"{problem} (ACCESSPORTAL_REQUIRE_SERVICES=1)")
        pytest.skip(problem)
    return node


@dataclass
class OpenIDProvider:
    issuer: str
    users: Path
    proc: subprocess.Popen

    @classmethod
    def start(cls, *, redirect_uris: list[str], users: Path, accounts: dict) -> OpenIDProvider:
        node = node_or_skip()
        users.write_text(json.dumps(accounts))
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OP_USERS_FILE": str(users),
            "OP_CLIENT_ID": CLIENT_ID,
            "OP_CLIENT_SECRET": CLIENT_SECRET,
            "OP_REDIRECT_URIS": ",".join(redirect_uris),
        }
        log = users.with_suffix(".log")
        with log.open("w") as out:  # a file, not a pipe nobody reads while it runs
            proc = subprocess.Popen(
                [node, "server.mjs", str(port)], cwd=OP_DIR, env=env, stdout=out, stderr=out
            )
        op = cls(f"http://127.0.0.1:{port}", users, proc)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{op.issuer}/.well-known/openid-configuration", timeout=1)
                return op
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    op.stop()
                    pytest.fail(f"the test OpenID provider did not start: {log.read_text()}")
                time.sleep(0.1)

    def mode(self, mode: str) -> None:
        request = urllib.request.Request(
            f"{self.issuer}/__test/mode",
            data=json.dumps({"mode": mode}).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response) == {"mode": mode}

    def set_user(self, username: str, claims: dict) -> None:
        accounts = json.loads(self.users.read_text())
        accounts[username] = claims
        self.users.write_text(json.dumps(accounts))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
