"""The `accessctl` entry point: argument parsing, dispatch, and one place that turns errors
into a one-line message and an exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TextIO

from accessctl import __version__
from accessctl.commands import access, credentials, grants, login, requests, resources
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
)

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
  accessctl access check alice --role db-admin
  curl -H "Authorization: Bearer $(accessctl credentials)" https://billing.example.com/

Every command takes --json to print the API's JSON instead of a table.
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
    # --json is accepted before or after the command; SUPPRESS keeps a subcommand's absent
    # flag from overwriting the top-level one.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the API's JSON (for scripts) instead of human output",
    )
    parser = argparse.ArgumentParser(
        prog="accessctl",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HELP_FORMAT,
    )
    parser.add_argument("--json", action="store_true", default=False, help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"accessctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    login.register(sub, common)
    requests.register(sub, common)
    resources.register(sub, common)
    grants.register(sub, common)
    access.register(sub, common)
    credentials.register(sub, common)
    return parser


def _error(stderr: TextIO, exc: CliError) -> None:
    """One line: the message (the server's own, for a refusal) and what to do about it."""
    line = f"accessctl: error: {exc.message.rstrip('.')}"
    if exc.hint:
        line += f"; {exc.hint}"
    print(line, file=stderr)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
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
    ctx = Context(stdout=stdout, stderr=stderr, stdin=stdin, environ=environ, json=args.json)
    if sleep is not None:  # tests pace --wait themselves
        ctx.sleep = sleep
    if browser is not None:  # tests hand the sign-in URL to a browser they drive
        ctx.open_browser = browser
    try:
        return args.func(ctx, args)
    except SystemExit as exc:  # parser.error() from a command's own argument check
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CliError as exc:
        _error(stderr, exc)
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
