"""The `accessctl` entry point: argument parsing, dispatch, and one place that turns errors
into a one-line message and an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from accessctl import __version__
from accessctl.commands import (
    access,
    completion,
    credentials,
    evidence,
    grants,
    login,
    logout,
    requests,
    resources,
    reviews,
)
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
)

OUTPUTS = ("text", "json")

DESCRIPTION = """\
accessctl asks for, follows, reviews and checks just-in-time access in Access Portal,
from the terminal. It speaks the portal's REST API (/api/v1/) with your API token.

Start with `accessctl login --url https://access.example.com`, or set
ACCESSPORTAL_URL and ACCESSPORTAL_TOKEN.

examples:
  accessctl login --sso --url https://access.example.com
  accessctl login --url https://access.example.com --user alice
  accessctl resources search --kind node --label env=prod
  accessctl request create --roles db-admin --reason "INC-4711: fix replication" --wait
  accessctl request ls --reviewable
  accessctl request review 3f2c9d1e-... --approve --reason "on call, go ahead"
  accessctl grants ls --active
  accessctl grants end 42 --reason "done"
  accessctl access check --role db-admin
  curl -H "Authorization: Bearer $(accessctl credentials)" https://billing.example.com/

Every command takes --output json (or --json) to print JSON for scripts instead of a
table; `accessctl completion bash|zsh|fish` prints a shell completion script.
Run `accessctl COMMAND ACTION --help` for each command's options and examples."""

EPILOG = (
    EXIT_CODES_HELP
    + """

environment:
  ACCESSPORTAL_URL            server URL (overrides the config file)
  ACCESSPORTAL_TOKEN          API token (overrides the config file)
  ACCESSPORTAL_TIMEOUT        seconds to wait for each answer (default 30)
  ACCESSPORTAL_POLL_INTERVAL  seconds between checks with --wait (default 2)
  ACCESSPORTAL_NO_BROWSER     set to anything: `login --sso` prints the URL to open
  ACCESSPORTAL_LOGIN_TIMEOUT  seconds `login --sso` waits for the browser (default 300)
  NO_COLOR                    set to anything to turn colour off"""
)


def build_parser() -> argparse.ArgumentParser:
    # --json and --output are accepted before or after the command; SUPPRESS keeps a
    # subcommand's absent flag from overwriting the top-level one.
    json_only = argparse.ArgumentParser(add_help=False)
    json_only.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="the same as --output json",
    )
    common = argparse.ArgumentParser(add_help=False, parents=[json_only])
    common.add_argument(
        "--output",
        "-o",
        choices=OUTPUTS,
        default=argparse.SUPPRESS,
        help="text (default): for people; json: the API's JSON, for scripts "
        '(README, "JSON output")',
    )
    parser = argparse.ArgumentParser(
        prog="accessctl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HELP_FORMAT,
    )
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--output", "-o", choices=OUTPUTS, default="text", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"accessctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    login.register(sub, common)
    logout.register(sub, common)
    requests.register(sub, common)
    resources.register(sub, common)
    grants.register(sub, common)
    access.register(sub, common)
    reviews.register(sub, common)
    credentials.register(sub, json_only)  # its own --output: token or json
    evidence.register(sub, common)
    completion.register(sub, common)
    parser.set_defaults(root_parser=parser)  # `completion` walks the whole tree
    return parser


def _error(stderr: TextIO, exc: CliError, *, as_json: bool = False) -> None:
    """One line: the message (the server's own, for a refusal) and what to do about it;
    with --output json, one JSON object (README "JSON output")."""
    if as_json:
        error: dict[str, object] = {"message": exc.message, "exit_code": exc.exit_code}
        if exc.hint:
            error["hint"] = exc.hint
        if exc.details:
            error["details"] = exc.details
        if getattr(exc, "status", 0):
            error["status"] = exc.status
        if getattr(exc, "code", ""):
            error["code"] = exc.code
        print(json.dumps({"error": error}, ensure_ascii=False), file=stderr)
        return
    line = f"accessctl: error: {exc.message.rstrip('.')}"
    if exc.hint:
        line += f"; {exc.hint}"
    print(line, file=stderr)
    for detail in exc.details:
        print(f"  {detail}", file=stderr)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    browser: Callable[[str], bool] | None = None,
) -> int:
    """Run one command; returns the exit status (see `accessctl --help`)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    stdin = stdin or sys.stdin
    environ = os.environ if environ is None else environ
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    as_json = args.json or args.output == "json"
    ctx = Context(stdout=stdout, stderr=stderr, stdin=stdin, environ=environ, json=as_json)
    if sleep is not None:  # tests pace --wait themselves
        ctx.sleep = sleep
    if clock is not None:  # and measure the time it took with their own clock
        ctx.clock = clock
    if browser is not None:  # tests hand the sign-in URL to a browser they drive
        ctx.open_browser = browser
    try:
        return args.func(ctx, args)
    except SystemExit as exc:  # parser.error() from a command's own argument check
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CliError as exc:
        _error(stderr, exc, as_json=as_json)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\naccessctl: interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `accessctl request ls | head`: the reader left; say nothing more.
        # Point stdout at /dev/null so the interpreter's final flush does not complain.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        return 0
