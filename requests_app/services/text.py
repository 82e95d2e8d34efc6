"""Free text and names from people (reasons, role and reviewer names): checked once, the same
way on every back end, before anything is stored.

Accepted text is stored exactly as given (after trimming surrounding whitespace): any
script, right-to-left writing, combining marks, emoji. Refused, with ValidationFailed:
- NUL, which PostgreSQL text and jsonb columns cannot hold (SQLite would store it, so
  refusing here keeps both back ends alike), and lone surrogates, which are not UTF-8;
- other control characters except tab and newlines: terminal escapes and the like have no
  place in a reason and can garble logs and notifications;
- bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069):
  they make text display in a different order than it is stored ("Trojan Source"), so a
  reason could read differently to the reviewer than what the audit log records.
"""

from __future__ import annotations

import re

from accessctl import chain
from accessportal.kernel.errors import ValidationFailed

MAX_REASON = 4096
MAX_NAME = 320

_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_DESCRIBE = {"\x00": "a NUL character"}


def _problem(value: str) -> str | None:
    match = _FORBIDDEN.search(value)
    if match is None:
        return None
    char = match.group()
    code = f"U+{ord(char):04X}"
    if char in _DESCRIBE:
        what = _DESCRIBE[char]
    elif "\ud800" <= char <= "\udfff":
        what = "a lone surrogate (not valid Unicode text)"
    elif "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        what = "a text-direction control character"
    else:
        what = "a control character"
    return f"contains {what} ({code}) at position {match.start()}, which is not allowed"


def clean_text(value: object, *, field: str, max_length: int = MAX_REASON) -> str:
    """`value` as stored text: None reads as "", surrounding whitespace is trimmed, and text
    that is not a str, too long, or holding a refused character raises ValidationFailed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(
            f"{field} may be at most {max_length} characters (got {len(value)})", field=field
        )
    if problem := _problem(value):
        raise ValidationFailed(f"{field} {problem}", field=field)
    if value.startswith(chain.PURGED_TEXT):
        # How a purged text is stored: typed text must never read as one.
        raise ValidationFailed(
            f"{field} may not start with {chain.PURGED_TEXT!r} (it marks purged text)", field=field
        )
    return value


def check_name(value: str, *, field: str) -> str:
    """A role, resource or user name as given: at most MAX_NAME characters, no refused
    characters (the caller has already made sure it is a str)."""
    if len(value) > MAX_NAME:
        raise ValidationFailed(f"{field}: a name may be at most {MAX_NAME} characters", field=field)
    if problem := _problem(value):
        raise ValidationFailed(f"{field}: {ascii(value[:40])} {problem}", field=field)
    return value
