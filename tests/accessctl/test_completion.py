"""`accessctl completion SHELL`: each script loads in its real shell and completes commands,
subcommands, options and option values (bash, zsh and fish from Debian's packages; without
zsh or fish their tests skip, tests/accessctl/test_missing_shells.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from accessctl.main import build_parser
from tests.conftest import REQUIRE_SERVICES

BASH_CASES = [
    ("accessctl re", ["request", "resources"]),
    ("accessctl request ", ["create", "ls", "list", "show", "review", "withdraw", "extend"]),
    ("accessctl request create --ma", ["--max-duration"]),
    ("accessctl request list --state ", ["PENDING", "APPROVED", "DENIED", "EXPIRED"]),
    ("accessctl grants ls -o ", ["text", "json"]),
    ("accessctl access check --output j", ["json"]),
    ("accessctl completion ", ["bash", "zsh", "fish"]),
    ("accessctl log", ["login", "logout"]),
    # an option's value is not a subcommand: `--reason request` stays in `request create`
    ("accessctl request create --reason request --dr", ["--dry-run"]),
    # an option that takes free text offers nothing
    ("accessctl request create --reason ", []),
]


def _shell(name: str) -> str:
    """The shell's path. bash is always there; without zsh or fish (README's quick start
    needs only Python) their tests skip saying how to install it, and fail instead under
    ACCESSPORTAL_REQUIRE_SERVICES=1 (CI, whose .ci/run installs both)."""
    path = shutil.which(name)
    if path:
        return path
    hint = f"needs {name}: apt-get install {name} (.ci/run installs it)"
    if name != "bash" and not REQUIRE_SERVICES:
        pytest.skip(hint)
    pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {hint}" if REQUIRE_SERVICES else hint)


@pytest.fixture
def script_file(run, tmp_path):
    def _write(shell: str):
        result = run("completion", shell)
        assert result.code == 0, result.err
        path = tmp_path / f"accessctl.{shell}"
        path.write_text(result.out)
        return path

    return _write


def test_bash_script_registers_and_completes(script_file):
    path = script_file("bash")
    done = subprocess.run(
        [_shell("bash"), "-c", f"source {path} && complete -p accessctl"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "complete -F _accessctl_complete accessctl"
    for line, expected in BASH_CASES:
        # COMP_WORDS / COMP_CWORD as bash sets them for the line typed so far.
        simulate = (
            f"source {path}; read -ra COMP_WORDS <<< {line!r}; "
            f"[[ {line!r} == *' ' ]] && COMP_WORDS+=(''); "
            "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _accessctl_complete; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run([_shell("bash"), "-c", simulate], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        offered = done.stdout.split()
        if expected:
            assert set(expected) <= set(offered), (line, offered)
            assert all(w.startswith(line.split(" ")[-1]) for w in offered), (line, offered)
        else:
            assert offered == [], (line, offered)


def test_bash_loads_the_script_from_the_console_script():
    """As README says to: `source <(accessctl completion bash)`."""
    script = Path(sys.executable).parent / "accessctl"
    done = subprocess.run(
        [_shell("bash"), "-c", f"source <({script} completion bash); complete -p accessctl"],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() == "complete -F _accessctl_complete accessctl"


def test_zsh_script_is_valid_and_completes(script_file):
    path = script_file("zsh")
    zsh = _shell("zsh")
    check = subprocess.run([zsh, "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    # compadd is the completion system's builtin: a stand-in records what would be offered.
    simulate = (
        'compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; '
        f"source {path}; "
        "words=(accessctl request list --state ''); CURRENT=5; _accessctl; print -- ---; "
        "words=(accessctl grants ''); CURRENT=3; _accessctl"
    )
    done = subprocess.run([zsh, "-f", "-c", simulate], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    states, grants = done.stdout.split("---\n")
    assert states.split() == ["PENDING", "APPROVED", "DENIED", "EXPIRED", "WITHDRAWN", "REVOKED"]
    assert {"ls", "list", "show", "end"} <= set(grants.split())


def test_fish_script_is_valid_and_completes(script_file):
    path = script_file("fish")
    fish = _shell("fish")
    check = subprocess.run([fish, "-n", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            [fish, "--no-config", "-c", f"source {path}; complete -C {line!r}"],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return [row.split("\t")[0] for row in done.stdout.splitlines()]

    assert complete("accessctl gr") == ["grants"]
    assert complete("accessctl logo") == ["logout"]
    assert {"create", "extend", "withdraw"} <= set(complete("accessctl request "))
    assert complete("accessctl request ls --state W") == ["WITHDRAWN"]
    assert "--max-duration" in complete("accessctl request extend --")
    assert set(complete("accessctl completion ")) == {"bash", "zsh", "fish"}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_command_and_option_is_in_every_script(run, shell):
    """The scripts come from the argparse tree: a new option completes without more work."""
    text = run("completion", shell).out
    parser = build_parser()
    for words in (["request", "create"], ["grants", "end"], ["access", "check"]):
        sub = parser
        for word in words:
            sub = next(
                a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"
            ).choices[word]
        for action in sub._actions:
            for flag in action.option_strings:
                name = flag if shell != "fish" else flag.lstrip("-")
                assert name in text, (shell, words, flag)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_every_command_is_in_every_script(run, shell):
    text = run("completion", shell).out
    parser = build_parser()
    commands = next(
        a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"
    ).choices
    assert "logout" in commands
    for name in commands:
        assert name in text, (shell, name)
