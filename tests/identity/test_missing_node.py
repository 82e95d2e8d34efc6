"""Without node the single sign-on browser tests skip, saying what to install; with
ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) they fail instead. Run in a pytest subprocess whose
PATH has no node."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ONE_SSO_TEST = ["-k", "two_providers", "tests/browser/test_sso_sign_in.py"]


def _sso_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ACCESSPORTAL_REQUIRE_SERVICES", "DATABASE_URL", "PATH"}
    }
    environ |= {
        "PATH": str(tmp_path),  # no node here
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", *ONE_SSO_TEST],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sso_tests_skip_without_node(tmp_path):
    result = _sso_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " skipped" in result.stdout and "node (>= 20.19) is not installed" in result.stdout


def test_a_missing_node_fails_when_services_are_required(tmp_path):
    result = _sso_tests(tmp_path, ACCESSPORTAL_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1" in result.stdout
