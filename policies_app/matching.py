"""Role-name matching as Teleport does it: a glob (`*` = any run of characters) or a
full regular expression when the pattern is written `^...$`.

Both forms match the whole value, never a part of it. Matching runs on RE2 (google-re2),
as Teleport's Go regexp does: time linear in the text whatever the pattern, so a policy's
`regexp.match(request.reason, "^(a+)+$")` cannot be turned into a denial of service by a
requester's 4 KiB reason (Python's backtracking `re` takes exponential time on it).
RE2 syntax is Go's: no backreferences or look-around; such patterns are refused at load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import re2


def _options(*, dot_nl: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors are reported to the policy author, not to stderr
    options.dot_nl = dot_nl
    return options


_REGEX_OPTIONS = _options(dot_nl=False)
# `*` in a glob means any run of characters, newlines included.
_GLOB_OPTIONS = _options(dot_nl=True)


def is_regex(pattern: str) -> bool:
    """Whether `pattern` is a `^...$` regular expression rather than a glob."""
    return pattern.startswith("^") and pattern.endswith("$")


def _compile_regex(pattern: str):
    # Hostile patterns must end in a ValueError: RE2 reports nesting and size limits as
    # errors; encoding a lone surrogate fails before RE2 sees the pattern.
    try:
        return re2.compile(pattern, _REGEX_OPTIONS)
    except re2.error as err:
        raw = err.args[0] if err.args else ""
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        # RE2 may append ": <the whole pattern>"; the caller quotes the pattern itself.
        message = message.removesuffix(f": {pattern}")
        raise ValueError(message or "invalid regular expression") from err
    except (UnicodeError, RecursionError, OverflowError, ValueError, TypeError) as err:
        raise ValueError(str(err) or type(err).__name__) from err


@lru_cache(maxsize=4096)
def _compile(pattern: str):
    """The compiled pattern, or None when a `^...$` pattern is not a valid regex."""
    if is_regex(pattern):
        try:
            return _compile_regex(pattern)
        except ValueError:
            return None
    # Runs of `*` collapse to one; the rest of a glob is literal text around `.*`.
    glob = ".*".join(re2.escape(part) for part in re.sub(r"\*+", "*", pattern).split("*"))
    try:
        return re2.compile(glob, _GLOB_OPTIONS)
    except (re2.error, UnicodeError):
        return None


def _text(value: str) -> str:
    # Lone surrogates cannot be encoded for RE2; no stored text holds them (they are refused
    # on input), so any stand-in that cannot match real text will do.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def matches(pattern: str, value: str) -> bool:
    """Whether the whole of `value` matches `pattern`; an invalid regex matches nothing."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    compiled = _compile(pattern)
    return compiled is not None and compiled.fullmatch(_text(value)) is not None


def matches_any(patterns: Iterable[str], value: str) -> bool:
    """Whether any of `patterns` matches `value`."""
    return any(matches(p, value) for p in patterns)


def validate_pattern(pattern: str) -> str | None:
    """An error message when a `^...$` pattern is not a valid regular expression, else None."""
    if not is_regex(pattern):
        return None
    try:
        _compile_regex(pattern)
    except ValueError as err:
        # Patterns can be kilobytes long; the start is enough to recognise one.
        shown = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        return f"{shown!r} is not a valid regular expression: {err}"
    return None
