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
