"""On a machine with Python and bash only (README's quick start) the zsh and fish completion
tests skip, saying how to install the shell; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) a
missing shell fails them instead. Run in a pytest subprocess whose PATH holds only bash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pytest_subprocess import run_pytest

# The inner pytest runs on its own SQLite file: nothing to repeat against PostgreSQL.
pytestmark = pytest.mark.sqlite_pass

SHELL_TESTS = ["-k", "zsh or fish or bash", "tests/accessctl/test_completion.py"]


def _completion_tests(tmp_path: Path, **env: str):
    only_bash = tmp_path / "bin"
    only_bash.mkdir()
    (only_bash / "bash").symlink_to(shutil.which("bash"))
    return run_pytest(tmp_path, *SHELL_TESTS, drop=("PATH",), PATH=str(only_bash), **env)


def test_zsh_and_fish_tests_skip_with_how_to_install_them_when_missing(tmp_path):
    result = _completion_tests(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " failed" not in result.stdout
    assert "needs zsh: apt-get install zsh" in result.stdout
    assert "needs fish: apt-get install fish" in result.stdout
    # bash is there: its tests still run.
    assert " passed" in result.stdout and " skipped" in result.stdout


def test_a_missing_zsh_or_fish_fails_when_services_are_required(tmp_path):
    result = _completion_tests(tmp_path, ACCESSPORTAL_REQUIRE_SERVICES="1")
    assert result.returncode == 1, result.stdout[-3000:]
    assert " skipped" not in result.stdout
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1: needs zsh" in result.stdout
    assert "ACCESSPORTAL_REQUIRE_SERVICES=1: needs fish" in result.stdout
