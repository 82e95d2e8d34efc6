"""Human output: aligned tables, times both absolute and relative, colour on terminals only.

Everything here is pure formatting (no I/O besides the spinner), so tests can pin it down.
Absolute times are UTC, written the same way everywhere, so they can be pasted into tickets.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_COLOURS = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}
STATE_COLOURS = {
    "APPROVED": "green",
    "DENIED": "red",
    "PENDING": "yellow",
    "REVOKED": "red",
    "EXPIRED": "dim",
    "WITHDRAWN": "dim",
    "active": "green",
    "scheduled": "yellow",
    "ended": "dim",
    "revoked": "red",
    "revoking": "yellow",
    # provisioning states, per target
    "applied": "green",
    "pending": "yellow",
    "failed": "red",
    "removed": "dim",
    "kept": "dim",
}


def colour_enabled(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Colour only on a terminal, never with NO_COLOR (https://no-color.org) or TERM=dumb."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Style:
    """Wraps text in ANSI colour codes when enabled, and returns it unchanged otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, colour: str) -> str:
        if not self.enabled or not text or colour not in _COLOURS:
            return text
        return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"

    def bold(self, text: str) -> str:
        return self(text, "bold")

    def dim(self, text: str) -> str:
        return self(text, "dim")

    def state(self, state: str) -> str:
        return self(state, STATE_COLOURS.get(state, ""))


def visible_width(text: str) -> int:
    """Columns the text takes on a terminal: colour codes take none, wide characters two."""
    plain = _ANSI.sub("", text)
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in plain
    )


def truncate(text: str, width: int) -> str:
    """One line, at most `width` characters, with an ellipsis when cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], style: Style) -> str:
    """Columns aligned on their widest cell; the last column is not padded."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(visible_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = []
        for i, cell in enumerate(row):
            pad = "" if i == len(row) - 1 else " " * (widths[i] - visible_width(cell))
            parts.append(cell + pad)
        line = "  ".join(parts).rstrip()
        lines.append(style.bold(line) if n == 0 else line)
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`Label:   value` lines with the values aligned; empty values are left out."""
    pairs = [(k, v) for k, v in pairs if v not in (None, "")]
    if not pairs:
        return ""
    width = max(len(k) for k, _ in pairs) + 1
    return "\n".join(f"{(k + ':').ljust(width)}  {v}" for k, v in pairs)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 time from the API (`...Z` or an offset) as an aware UTC datetime."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def now_utc() -> datetime:
    return datetime.now(UTC)


def duration(seconds: float | int | None, *, parts: int = 2) -> str:
    """Seconds as `4h`, `1h 30m`, `2d 3h`, `45s`: the `parts` largest non-zero units."""
    if seconds is None:
        return ""
    seconds = int(abs(float(seconds)))  # floor: "in 23h 59m" until a full day is left
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
        elif out:
            # After the first unit, a zero stops the list: `2d` not `2d 0h 5m`.
            break
        if len(out) == parts:
            break
    return " ".join(out)


def relative(when: datetime, now: datetime | None = None) -> str:
    """`in 3h 58m`, `12m ago` or `just now` (within a second)."""
    delta = (when - (now or now_utc())).total_seconds()
    if abs(delta) < 1:
        return "just now"
    text = duration(delta)
    return f"in {text}" if delta > 0 else f"{text} ago"


def absolute(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def when(value: object, now: datetime | None = None, *, style: Style | None = None) -> str:
    """`2026-11-25 16:02 UTC (in 3h 58m)`, or "" for no time."""
    parsed = parse_time(value)
    if parsed is None:
        return ""
    rel = f"({relative(parsed, now)})"
    return f"{absolute(parsed)} {style.dim(rel) if style else rel}"


def short_absolute(value: object) -> str:
    """Just the absolute part, for table cells: `2026-11-25 16:02 UTC`."""
    parsed = parse_time(value)
    return absolute(parsed) if parsed else ""


def short_when(value: object, now: datetime | None = None) -> str:
    """Just the relative part, for table cells: `in 3h 58m`, `12m ago`."""
    parsed = parse_time(value)
    return relative(parsed, now) if parsed else ""


class Spinner:
    """A one-line progress indicator on stderr, drawn only when it is a terminal."""

    FRAMES_UNICODE = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    FRAMES_ASCII = "|/-\\"

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        encoding = (getattr(stream, "encoding", "") or "").lower()
        self.frames = self.FRAMES_UNICODE if "utf" in encoding else self.FRAMES_ASCII
        self._n = 0
        self._drawn = False

    def update(self, text: str) -> None:
        if not self.enabled:
            return
        frame = self.frames[self._n % len(self.frames)]
        self._n += 1
        # A line longer than the terminal would wrap, and \r could not redraw it.
        width = shutil.get_terminal_size((80, 24)).columns - 3
        self.stream.write(f"\r{frame} {truncate(text, max(width, 10))}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def clear(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
