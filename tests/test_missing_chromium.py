"""On a machine without Chromium the browser tests skip with a one-line way to install it,
as PostgreSQL-only tests do; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) a missing Chromium
fails them instead.

The browser tests run in a pytest subprocess whose ACCESSPORTAL_CHROMIUM names a file that
does not exist (this file is outside tests/browser/, so it is not a browser test itself).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _browser_tests(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in {"ACCESSPORTAL_REQUIRE_SERVICES", "ACCESSPORTAL_CHROMIUM", "DATABASE_URL"}
    }
    environ |= {
        "ACCESSPORTAL_CHROMIUM": str(tmp_path / "no-chromium-here"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rsf", "tests/browser"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_browser_tests_skip_with_how_to_install_chromium_when_it_is_missing(tmp_path):
    result = _browser_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" not in result.stdout and " failed" not in result.stdout
    assert " skipped" in result.stdout
    assert "needs Chromium" in result.stdout and "apt-get install chromium" in result.stdout


def test_a_missing_chromium_fails_when_services_are_required(tmp_path):
    result = _browser_tests(tmp_path, ACCESSPORTAL_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert " skipped" not in result.stdout
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1" in result.stdout
    assert "apt-get install chromium" in result.stdout
