"""Run a command with an environment file read exactly as systemd's EnvironmentFile= reads it.

    python deploy/systemd_envfile.py [--require NAME]... FILE COMMAND [ARG]...

deploy/accessportal-manage runs manage.py through this, so that `accessportal-manage` sees
the values the units see. A shell's `. FILE` does not: it splits a URL's query string at
`&`, expands `$` and backquotes, and reads quotes differently. The rules, from systemd's
env-file.c (parse_env_file_internal; systemd.exec(5), "EnvironmentFile="):

- one KEY=VALUE per line; blank lines, lines starting with `#` or `;`, and lines without
  `=` are skipped; spaces around the key and before the value are dropped;
- a value may be in single quotes (taken as it is) or double quotes (where `\\"`, `\\\\`,
  `\\$` and `\\``  stand for the character; another backslash stays); quoted and unquoted
  parts next to each other are joined; unquoted, a backslash takes the next character as
  it is, and trailing spaces are dropped;
- a backslash at the end of a line continues the value on the next line;
- no expansion of `$VARIABLES`; a name that is not letters, digits and `_` is skipped;
  the last assignment of a name wins.

(systemd before 254 also joined the line after a comment that ends in a backslash into the
comment; write no such comment.) Standard library only: it runs before Django is imported.
The variables are added to this process's environment (the file wins), then COMMAND is
executed in its place. Errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import re
import sys

_NEWLINE, _WHITESPACE, _COMMENTS = "\n\r", " \t\n\r", "#;"
_DOUBLE_QUOTE_ESCAPES = '"\\`$'
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse(text: str) -> dict[str, str]:
    """The variables `text` sets, as systemd reads an EnvironmentFile."""
    values: dict[str, str] = {}
    state = "pre_key"
    key: list[str] = []
    value: list[str] = []
    key_space = value_space = None  # where trailing whitespace begins, if any

    def push() -> None:
        name = "".join(key[:key_space] if key_space is not None else key)
        text = "".join(value[:value_space] if value_space is not None else value)
        if _NAME.fullmatch(name):
            values[name] = text

    for c in text:
        if state == "pre_key":
            if c in _COMMENTS:
                state = "comment"
            elif c not in _WHITESPACE:
                state, key, key_space = "key", [c], None
        elif state == "key":
            if c in _NEWLINE:
                state = "pre_key"
            elif c == "=":
                state, value, value_space = "pre_value", [], None
            else:
                if c not in _WHITESPACE:
                    key_space = None
                elif key_space is None:
                    key_space = len(key)
                key.append(c)
        elif state in ("pre_value", "value"):
            if c in _NEWLINE:
                push()
                state = "pre_key"
            elif c == "\\":
                state, value_space = "value_escape", None
            elif state == "pre_value" and c == "'":
                state = "single_quote"
            elif state == "pre_value" and c == '"':
                state = "double_quote"
            elif state == "pre_value":
                if c not in _WHITESPACE:
                    state = "value"
                    value.append(c)
            else:
                if c not in _WHITESPACE:
                    value_space = None
                elif value_space is None:
                    value_space = len(value)
                value.append(c)
        elif state == "value_escape":
            state = "value"
            if c not in _NEWLINE:
                value.append(c)
        elif state == "single_quote":
            if c == "'":
                state = "pre_value"
            else:
                value.append(c)
        elif state == "double_quote":
            if c == '"':
                state = "pre_value"
            elif c == "\\":
                state = "double_quote_escape"
            else:
                value.append(c)
        elif state == "double_quote_escape":
            state = "double_quote"
            if c in _DOUBLE_QUOTE_ESCAPES:
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "comment":
            if c == "\\":
                state = "comment_escape"
            elif c in _NEWLINE:
                state = "pre_key"
        elif state == "comment_escape":
            state = "pre_key" if c in _NEWLINE else "comment"
    if state not in ("pre_key", "key", "comment", "comment_escape"):
        push()
    return values


def _fail(message: str) -> None:
    print(f"accessportal-manage: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def main(argv: list[str]) -> None:
    required = []
    while len(argv) >= 2 and argv[0] == "--require":
        required.append(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        _fail("usage: systemd_envfile.py [--require NAME]... FILE COMMAND [ARG]...")
    path, command = argv[0], argv[1:]
    try:
        with open(path, encoding="utf-8") as file:
            values = parse(file.read())
    except (OSError, UnicodeError) as error:
        _fail(f"cannot read the environment file {path}: {error.strerror or error}")
    for name in required:
        if not values.get(name):
            _fail(f"{path}: {name} is missing or empty (the services need it)")
    os.environ.update(values)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        _fail(f"cannot run {command[0]}: {error.strerror}")


if __name__ == "__main__":
    main(sys.argv[1:])
