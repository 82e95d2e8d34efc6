"""Without node the single sign-on browser tests skip, saying what to install; with
ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) they fail instead. Run in a pytest subprocess whose
PATH has no node."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pytest_subprocess import run_pytest

# The inner pytest runs on its own SQLite file: nothing to repeat against PostgreSQL.
pytestmark = pytest.mark.sqlite_pass

ONE_SSO_TEST = ["-k", "two_providers", "tests/browser/test_sso_sign_in.py"]


def _sso_tests(tmp_path: Path, **env: str):
    return run_pytest(tmp_path, *ONE_SSO_TEST, drop=("PATH",), PATH=str(tmp_path), **env)


def test_sso_tests_skip_without_node(tmp_path):
    result = _sso_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " skipped" in result.stdout and "node (>= 20.19) is not installed" in result.stdout


def test_a_missing_node_fails_when_services_are_required(tmp_path):
    result = _sso_tests(tmp_path, ACCESSPORTAL_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1" in result.stdout
