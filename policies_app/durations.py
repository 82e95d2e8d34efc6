"""Durations as people write them ("90m", "4h", "2d", "1h30m", or seconds) and back."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"([0-9]+)([smhdw])")
_WHOLE = re.compile(r"(?:[0-9]+[smhdw])+")
_SECONDS = re.compile(r"[0-9]+")
MAX_TEXT = 32  # longer text is no duration (and int() of 5000 digits would raise)
# The same grammar for JSON Schema (the API's schema): seconds, or number-unit parts, and
# not zero. ASCII digits only (Python's `\d` and `int()` would read "٣h" as three hours).
SCHEMA_PATTERN = (
    r"^(0*[1-9][0-9]*|([0-9]+[smhdwSMHDW])*0*[1-9][0-9]*[smhdwSMHDW]([0-9]+[smhdwSMHDW])*)$"
)


class DurationError(ValueError):
    """A duration that cannot be read."""


def parse_duration(value: object) -> int:
    """Return whole seconds for `value`: an int, a string of ASCII digits, or units like
    "1h30m" (any case). Text is read as written: no spaces, inside or around."""
    if isinstance(value, bool):
        raise DurationError("a duration is a number of seconds or text like '4h', not a boolean")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.lower()
        if len(text) > MAX_TEXT:
            raise DurationError(f"{value[:MAX_TEXT]!r}... is not a duration: too long")
        if text.isascii() and _SECONDS.fullmatch(text):
            seconds = int(text)
        elif text.isascii() and _WHOLE.fullmatch(text):
            seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise DurationError(
                f"{value!r} is not a duration: use seconds or units s, m, h, d, w "
                "(e.g. '90m', '4h', '2d', '1h30m'), without spaces"
            )
    else:
        raise DurationError(f"{value!r} is not a duration")
    if seconds <= 0:
        raise DurationError("a duration must be positive")
    # No upper bound here: each caller has its own ceiling (14d of access, 7d pending, a
    # policy's cap) and says which, so a well-formed duration is refused for its length.
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest exact spelling: 259200 -> "3d", 5400 -> "90m", 3700 -> "3700s"."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def humanize_duration(seconds: int) -> str:
    """For people: 8100 -> "2h 15m", 90000 -> "1d 1h"."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if not parts:
        return f"{secs}s"
    return " ".join(parts[:2])
