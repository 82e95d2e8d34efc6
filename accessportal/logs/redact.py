"""Secrets never reach a log line: known secret shapes in a record's message, its
arguments and its traceback are masked before any handler formats it."""

from __future__ import annotations

import logging
import re

MASK = "[redacted]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # An Authorization / Proxy-Authorization / Cookie header, in text or a repr'd dict.
    (
        re.compile(
            r"""((?:proxy-)?authorization|cookie|x-api-key)(['"]?\s*[:=]\s*['"]?)[^'"\r\n,}]+""",
            re.IGNORECASE,
        ),
        rf"\1\2{MASK}",
    ),
    # Token / Bearer / Basic credentials wherever they appear.
    (re.compile(r"\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE), rf"\1 {MASK}"),
    # The API's session tokens (requests_app/services/tokens.py: apt_ + hex).
    (re.compile(r"\bapt_[0-9a-fA-F]{8,}"), f"apt_{MASK}"),
    # user:password@host in URLs and DSNs.
    (re.compile(r"(://[^:/@\s]*:)[^@\s]+@"), rf"\1{MASK}@"),
    # password=..., secret=..., api_key=..., token=... in query strings, libpq DSNs, kwargs.
    (
        re.compile(
            r"""\b((?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|token|"""
            r"""client[_-]?secret)(?:['"]?\s*[=:]\s*['"]?))[^\s&'",;}]+""",
            re.IGNORECASE,
        ),
        rf"\1{MASK}",
    ),
    # Slack incoming-webhook URLs carry their secret in the path.
    (re.compile(r"(hooks\.slack\.com/services/)\S+"), rf"\1{MASK}"),
]


def redact(text: str) -> str:
    """`text` with every known secret shape masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Formats the message once (msg % args), masks secrets in it and in the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what is there, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Text formatters print the masked exc_text; the JSON one formats exc_info
            # itself and masks it (config.JsonFormatter). exc_info stays for other
            # handlers (tests' capture, error trackers), which see the exception.
            record.exc_text = redact(record.exc_text)
        return True
