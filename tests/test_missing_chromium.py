"""On a machine without Chromium the browser tests skip with a one-line way to install it,
as PostgreSQL-only tests do; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) a missing Chromium
fails them instead.

The browser tests run in a pytest subprocess whose ACCESSPORTAL_CHROMIUM names a file that
does not exist (this file is outside tests/browser/, so it is not a browser test itself).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pytest_subprocess import run_pytest

# The inner pytest runs on its own SQLite file: nothing to repeat against PostgreSQL.
pytestmark = pytest.mark.sqlite_pass


def _browser_tests(tmp_path: Path, **env: str):
    missing = str(tmp_path / "no-chromium-here")
    return run_pytest(tmp_path, "tests/browser", ACCESSPORTAL_CHROMIUM=missing, **env)


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
