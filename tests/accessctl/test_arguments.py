"""Help is complete, bad arguments are usage errors (exit 2), and the client stays light."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from accessctl.main import build_parser

LEAF_COMMANDS = [
    ["completion"],
    ["credentials"],
    ["login"],
    ["whoami"],
    ["request", "create"],
    ["request", "ls"],
    ["request", "show"],
    ["request", "review"],
    ["request", "withdraw"],
    ["request", "extend"],
    ["resources", "search"],
    ["grants", "ls"],
    ["grants", "show"],
    ["grants", "end"],
    ["access", "check"],
]


def test_top_level_help_lists_commands_exit_codes_and_environment(run, capsys):
    result = run("--help")
    out = capsys.readouterr().out
    assert result.code == 0
    for word in (
        "login",
        "request",
        "resources",
        "grants",
        "access",
        "examples:",
        "exit status:",
        "ACCESSPORTAL_URL",
        "ACCESSPORTAL_TOKEN",
        "NO_COLOR",
    ):
        assert word in out


@pytest.mark.parametrize("argv", LEAF_COMMANDS, ids=" ".join)
def test_every_command_has_help_with_examples_and_json(run, capsys, argv):
    result = run(*argv, "--help")
    out = capsys.readouterr().out
    assert result.code == 0
    assert "examples:\n  accessctl " + " ".join(argv[:1]) in out
    assert "--json" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["request"], "the following arguments are required: ACTION"),
        (["request", "create", "--reason", "x"], "ask for something: --roles"),
        (["request", "create", "--resource", "db-prod-1"], "write kind/name"),
        (["request", "create", "--roles", ","], "comma-separated names"),
        (["request", "create", "--roles", "a", "--dry-run", "--wait"], "nothing to --wait for"),
        (["request", "ls", "--mine", "--reviewable"], "not allowed with argument"),
        (["request", "ls", "--state", "open"], "is not a request state"),
        (["request", "show"], "the following arguments are required: ID"),
        (["request", "review", "abc"], "one of the arguments --approve --deny is required"),
        (["request", "review", "abc", "--approve", "--deny"], "not allowed with argument"),
        (["request", "extend"], "the following arguments are required: ID"),
        (["request", "extend", "abc", "--dry-run", "--wait"], "nothing to --wait for"),
        (["resources", "search", "--label", "env"], "write key=value"),
        (["access", "check", "alice"], "one of the arguments --role --resource is required"),
        (["access", "check", "alice", "--role", "a", "--resource", "n/x"], "not allowed"),
        (["request", "ls", "--output", "yaml"], "invalid choice: 'yaml'"),
        (["completion", "tcsh"], "invalid choice: 'tcsh'"),
        (["request", "create", "--roles", "a", "--max-duration", ""], "expected a duration"),
        # Without --url, the server of ACCESSPORTAL_URL (or of the last login) is used.
        (["login"], "no token given"),
        (["login", "--device"], "--device and --no-browser go with --sso"),
        (["login", "--sso", "--user", "alice"], "not allowed with argument"),
        (["login", "--url", "access.example.com"], "not a server URL"),
    ],
)
def test_bad_arguments_are_usage_errors(run, capsys, argv, message):
    result = run(*argv, env={"ACCESSPORTAL_URL": "http://127.0.0.1:9", "ACCESSPORTAL_TOKEN": "t"})
    err = capsys.readouterr().err + result.err
    assert result.code == 2, err
    assert message in err
    assert "Traceback" not in err


def test_json_is_accepted_before_or_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--json", "grants", "ls"]).json is True
    assert parser.parse_args(["grants", "ls", "--json"]).json is True
    assert parser.parse_args(["grants", "ls"]).json is False
    assert parser.parse_args(["--output", "json", "grants", "ls"]).output == "json"
    assert parser.parse_args(["grants", "ls", "-o", "json"]).output == "json"
    assert parser.parse_args(["grants", "ls"]).output == "text"


@pytest.mark.parametrize("argv", LEAF_COMMANDS, ids=" ".join)
def test_every_command_takes_output_json(argv, capsys):
    """`--output json` is an option of every command (credentials: token or json)."""
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])
    assert "--output" in capsys.readouterr().out


def test_create_collects_roles_resources_and_reviewers():
    args = build_parser().parse_args(
        [
            "request",
            "create",
            "--roles",
            "a,b",
            "--roles",
            "c",
            "--resource",
            "node/x",
            "db/y",
            "--resource",
            "node/z",
            "--reviewers",
            "bob, carol",
            "--start",
            "2026-11-25T17:00+01:00",
            "--max-duration",
            "2w",
        ]
    )
    assert args.roles == ["a", "b", "c"]
    assert args.resources == ["node/x", "db/y", "node/z"]
    assert args.reviewers == ["bob", "carol"]
    # Times and durations go to the server as typed: it is the one that validates them.
    assert args.start == "2026-11-25T17:00+01:00"
    assert args.max_duration == "2w"


def test_the_client_never_imports_django():
    code = (
        "import sys, accessctl.main; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'rest_framework', 'requests_app', 'policies_app', 'accessportal')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_console_script_is_installed_and_runs():
    script = shutil.which("accessctl", path=str(Path(sys.executable).parent))
    assert script, "accessctl is not installed next to this Python: pip install -e ."
    done = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "accessctl 0.1.0")
    done = subprocess.run(
        [script, "request", "ls"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "ACCESSPORTAL_URL": "x"},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("accessctl: error: not a server URL: 'x'")
    assert "Traceback" not in done.stderr
