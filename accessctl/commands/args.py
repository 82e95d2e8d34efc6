"""Argument types: each refuses bad input with a message argparse prints (exit status 2)."""

from __future__ import annotations

import argparse

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
    """Sent to the server as written: it accepts seconds or units s, m, h, d, w ("90m",
    "2w", "1h30m") and says what is wrong with anything else, naming the flag."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a duration, e.g. 90m, 4h, 2d, 1w")
    return value


def rfc3339(value: str) -> str:
    """An RFC 3339 time with its offset (`2026-11-25T16:00:00Z`), sent as written: the
    server checks it and says what is wrong, naming the flag."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a time, e.g. 2026-11-25T16:00:00Z")
    return value


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
            f"{value!r} is not a request state; choose from {', '.join(STATES)}"
        )
    return upper
