"""Run pytest in a subprocess with a changed environment: how the suite tests what happens
on a machine without Chromium or node (tests/test_missing_chromium.py,
tests/identity/test_missing_node.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALWAYS_DROPPED = {"ACCESSPORTAL_REQUIRE_SERVICES", "DATABASE_URL"}


def run_pytest(
    tmp_path: Path, *args: str, drop: tuple[str, ...] = (), **env: str
) -> subprocess.CompletedProcess:
    """pytest ARGS from the project folder, on a throw-away SQLite database, without the
    variables in `drop` (and ACCESSPORTAL_REQUIRE_SERVICES unless given in `env`)."""
    dropped = ALWAYS_DROPPED | set(drop)
    environ = {k: v for k, v in os.environ.items() if k not in dropped}
    environ |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}", **env}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
