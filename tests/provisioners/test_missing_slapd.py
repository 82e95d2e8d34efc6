"""Without slapd the LDAP provisioner's tests skip, saying what to install; with
ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) they fail instead. Run in a pytest subprocess whose
ACCESSPORTAL_SLAPD names a file that does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pytest_subprocess import run_pytest

# The inner pytest runs on its own SQLite file: nothing to repeat against PostgreSQL.
pytestmark = pytest.mark.sqlite_pass

ONE_LDAP_TEST = ["-k", "entry_point", "tests/provisioners/test_ldap.py"]


def _ldap_tests(tmp_path: Path, **env: str):
    missing = str(tmp_path / "no-slapd-here")
    return run_pytest(tmp_path, *ONE_LDAP_TEST, ACCESSPORTAL_SLAPD=missing, **env)


def test_ldap_tests_skip_without_slapd(tmp_path):
    result = _ldap_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" not in result.stdout and " skipped" in result.stdout
    assert "apt-get install slapd ldap-utils" in result.stdout


def test_a_missing_slapd_fails_when_services_are_required(tmp_path):
    result = _ldap_tests(tmp_path, ACCESSPORTAL_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert " skipped" not in result.stdout
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1" in result.stdout
