"""accessctl installs alone (accessctl/pyproject.toml) on a laptop that has none of the
server's dependencies: built as a wheel, installed without an index into a fresh venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import accessctl

pytestmark = pytest.mark.sqlite_pass  # a venv of its own; no database

SOURCE = Path(accessctl.__file__).parent


def _run(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def laptop(tmp_path_factory) -> Path:
    """A fresh venv with only the accessctl wheel installed (`--no-index`: nothing else
    could come along). Returns the venv's bin directory."""
    root = tmp_path_factory.mktemp("laptop")
    src = root / "src" / "accessctl"
    shutil.copytree(
        SOURCE, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info")
    )
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", root / "dist", src)
    assert built.returncode == 0, built.stderr
    venv = root / "venv"
    made = _run(sys.executable, "-m", "venv", venv)
    assert made.returncode == 0, made.stderr
    wheels = list((root / "dist").glob("accessctl-*.whl"))
    assert len(wheels) == 1, wheels
    installed = _run(venv / "bin" / "pip", "install", "-q", "--no-index", wheels[0])
    assert installed.returncode == 0, installed.stderr
    return venv / "bin"


def test_the_cli_distribution_runs_without_the_server_s_dependencies(laptop, tmp_path):
    help_ = _run(laptop / "accessctl", "--help")
    assert help_.returncode == 0, help_.stderr
    assert help_.stdout.startswith("usage: accessctl ")

    version = _run(laptop / "accessctl", "--version")
    assert version.stdout.strip() == f"accessctl {accessctl.__version__}"

    for module in ("django", "psycopg", "celery", "rest_framework", "accessportal"):
        imported = _run(laptop / "python", "-c", f"import {module}")
        assert imported.returncode == 1 and "ModuleNotFoundError" in imported.stderr, module

    listed = _run(laptop / "pip", "list", "--format", "json")
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert names <= {"accessctl", "pip", "setuptools"}, names


def test_the_cli_distribution_works_as_a_client(laptop, tmp_path):
    """Completion and a command's errors, from the installed console script."""
    bash = _run(laptop / "accessctl", "completion", "bash")
    assert bash.returncode == 0 and "complete -F _accessctl_complete accessctl" in bash.stdout

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    whoami = _run(laptop / "accessctl", "whoami", env=env)
    assert whoami.returncode == 5, whoami.stderr
    assert whoami.stderr.startswith("accessctl: error: no server configured; run `accessctl login")
    assert "Traceback" not in whoami.stderr


def _hs256_bundle(key: bytes, alg: str = "HS256") -> dict:
    """A one-event bundle (a pending request) anchored by an HS256 JWS, built by hand with
    the format module alone."""
    import base64
    import hashlib
    import hmac

    from accessctl import chain

    event = {
        "seq": 1, "created": "2026-05-01T10:00:00+00:00", "actor_id": 1, "actor_name": "alice",
        "action": "request.created", "target_type": "access_request", "target_id": "r-1",
        "data": {"roles": ["db-admin"], "resources": [], "reason": "INC-1"},
        "prev_hash": chain.GENESIS, "v": chain.V2,
    }  # fmt: skip
    event["hash"] = chain.event_hash(event)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    time = "2026-05-01T10:01:00Z"
    header = b64(json.dumps({"alg": alg}).encode())
    payload = b64(json.dumps({"seq": 1, "hash": event["hash"], "time": time}).encode())
    signature = b64(hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return {
        "format": "accessportal-evidence/1",
        "request": {"id": "r-1", "state": "PENDING", "roles": ["db-admin"], "resources": [],
                    "reason": "INC-1", "user": "alice", "user_id": 1},
        "reviews": [], "grants": [], "events": [event],
        "chain": {"from_seq": 1, "to_seq": 1, "links": []},
        "anchor": {"seq": 1, "hash": event["hash"], "time": time,
                   "jws": f"{header}.{payload}.{signature}", "alg": alg},
    }  # fmt: skip


def test_evidence_verify_runs_on_the_standard_library_and_asks_for_the_extra_for_ed25519(
    laptop, tmp_path
):
    """HS256 anchors need nothing more; an Ed25519 anchor names the `evidence` extra
    (the `cryptography` package) instead of a traceback."""
    key = tmp_path / "anchor.key"
    key.write_text("k" * 40)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(_hs256_bundle(b"k" * 40)))
    verified = _run(laptop / "accessctl", "evidence", "verify", bundle, "--key-file", key)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified: 1 events, anchored at seq 1")

    ed = _hs256_bundle(b"k" * 40, alg="Ed25519")
    pem = tmp_path / "anchor.pub.pem"
    pem.write_text("-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n")
    bundle.write_text(json.dumps(ed))
    refused = _run(laptop / "accessctl", "evidence", "verify", bundle, "--public-key", pem)
    assert refused.returncode == 1
    assert "pip install 'accessctl[evidence]'" in refused.stderr
    assert "Traceback" not in refused.stderr
