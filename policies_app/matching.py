"""Role-name matching as Teleport does it: a glob (`*` = any run of characters) or a
full regular expression when the pattern is written `^...$`.

Both forms match the whole value, never a part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


def is_regex(pattern: str) -> bool:
    """Whether `pattern` is a `^...$` regular expression rather than a glob."""
    return pattern.startswith("^") and pattern.endswith("$")


def _compile_regex(pattern: str) -> re.Pattern[str]:
    # Hostile patterns can make the `re` parser overflow or recurse, not only raise re.error.
    try:
        return re.compile(pattern)
    except re.error as err:
        # err.msg, not str(err): its "at position N" would clash with the caller's positions.
        raise ValueError(err.msg) from err
    except (RecursionError, OverflowError, ValueError) as err:
        raise ValueError(str(err) or type(err).__name__) from err


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when a `^...$` pattern is not a valid regex."""
    if is_regex(pattern):
        try:
            return _compile_regex(pattern)
        except ValueError:
            return None
    # Runs of `*` collapse to one so "a**b" costs no more backtracking than "a*b";
    # DOTALL because `*` means any run of characters, newlines included.
    glob = ".*".join(re.escape(part) for part in re.sub(r"\*+", "*", pattern).split("*"))
    return re.compile(glob, re.DOTALL)


def matches(pattern: str, value: str) -> bool:
    """Whether the whole of `value` matches `pattern`; an invalid regex matches nothing."""
    if not isinstance(pattern, str) or not isinstance(value, str):
        return False
    compiled = _compile(pattern)
    return compiled is not None and compiled.fullmatch(value) is not None


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
