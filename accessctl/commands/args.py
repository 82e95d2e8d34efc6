"""Argument types: each refuses bad input with a message argparse prints (exit status 2)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime

_DURATION = re.compile(r"^(\d+|(\d+[smhd])+)$")
STATES = ("PENDING", "APPROVED", "DENIED", "EXPIRED", "WITHDRAWN", "REVOKED")


def name_list(value: str) -> list[str]:
    """`a,b, c` → ["a", "b", "c"]."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return names


def resource_id(value: str) -> str:
    kind, _, name = value.strip().partition("/")
    if not kind or not name:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a resource id; write kind/name, e.g. node/db-prod-1"
        )
    return f"{kind}/{name}"


def duration(value: str) -> str:
    """`90m`, `4h`, `2d`, `1h30m` or seconds; passed to the server as written."""
    text = value.strip().lower()
    if not _DURATION.match(text):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration; write e.g. 90m, 4h, 2d, 1h30m or a number of seconds"
        )
    return text


def rfc3339(value: str) -> str:
    """An RFC 3339 time with its offset (`2026-11-25T16:00:00Z`), sent to the server in UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an RFC 3339 time; write e.g. 2026-11-25T16:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no time zone; add Z for UTC or an offset such as +01:00"
        )
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def label(value: str) -> str:
    key, sep, val = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a label; write key=value, e.g. env=prod"
        )
    return f"{key.strip()}={val.strip()}"


def state(value: str) -> str:
    upper = value.strip().upper()
    if upper not in STATES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a request state; choose from {', '.join(s.lower() for s in STATES)}"
        )
    return upper
