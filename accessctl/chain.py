"""The audit chain's hash format: the one implementation the server appends with and
`accessctl evidence verify` checks a bundle with, offline. Standard library only.

v1 (events written before the cut-over): hash = sha256(canonical JSON of every field,
`data` raw, `prev_hash` included).

v2 (from the first event written by a server that knows it onward):
    value commitment  c(v)   = sha256(canonical(v)), or H itself for a purged {"$purged": H}
    fields commitment F      = sha256(canonical({created, actor_id, actor_name, action,
                                                 data: {key: c(value)}}))
    body commitment   B      = sha256(canonical({v: 2, seq, target_type, target_id, fields: F}))
    hash                     = sha256(prev_hash ‖ B)          (64 + 64 hex characters)
so an event is linked into the chain by B alone (a proof through someone else's event shows
its seq, target and F, never its content), and a value replaced by its purged marker keeps
the same commitment, hash and anchors. docs/SECURITY.md, "Audit chain format".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
V1, V2 = 1, 2
PURGED = "$purged"
# How a purged text column (a request's reason) is stored: the prefix, then the value's c(v).
PURGED_TEXT = "$purged:"
HEX64 = re.compile(r"[0-9a-f]{64}")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_purged(value: Any) -> bool:
    """A purged marker: {"$purged": "<64 hex>"} and nothing else."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(PURGED), str)
        and HEX64.fullmatch(value[PURGED]) is not None
    )


def commitment(value: Any) -> str:
    """c(v): what the chain keeps of one value of an event's data (or of a purged field)."""
    return value[PURGED] if is_purged(value) else sha256(canonical(value))


def purged(value: Any) -> dict:
    """The marker that replaces a value: it keeps the value's commitment."""
    return {PURGED: commitment(value)}


def text_is_purged(text: str) -> bool:
    return (
        isinstance(text, str)
        and text.startswith(PURGED_TEXT)
        and HEX64.fullmatch(text[len(PURGED_TEXT) :]) is not None
    )


def text_purged(text: str) -> str:
    """How a purged text column is stored (the commitment of the original string)."""
    return text if text_is_purged(text) else PURGED_TEXT + commitment(text)


def text_exported(text: str) -> Any:
    """A text column as a bundle shows it: the text, or its purged marker."""
    return {PURGED: text[len(PURGED_TEXT) :]} if text_is_purged(text) else text


def v1_hash(event: Mapping[str, Any]) -> str:
    body = {
        key: event[key]
        for key in (
            "seq",
            "created",
            "actor_id",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "data",
            "prev_hash",
        )  # fmt: skip
    }
    return sha256(canonical(body))


def fields_commitment(event: Mapping[str, Any]) -> str:
    data = event["data"] or {}
    return sha256(
        canonical(
            {
                "created": event["created"],
                "actor_id": event["actor_id"],
                "actor_name": event["actor_name"],
                "action": event["action"],
                "data": {key: commitment(value) for key, value in data.items()},
            }
        )
    )


def body_commitment(*, seq: int, target_type: str, target_id: str, fields: str) -> str:
    return sha256(
        canonical(
            {
                "v": V2,
                "seq": seq,
                "target_type": target_type,
                "target_id": target_id,
                "fields": fields,
            }
        )  # fmt: skip
    )


def link(prev_hash: str, body: str) -> str:
    return sha256(prev_hash + body)


def v2_hash(event: Mapping[str, Any]) -> str:
    body = body_commitment(
        seq=event["seq"],
        target_type=event["target_type"],
        target_id=event["target_id"],
        fields=fields_commitment(event),
    )
    return link(event["prev_hash"], body)


def event_hash(event: Mapping[str, Any]) -> str:
    """The hash of an event given as a mapping of its fields (`created` as ISO text, `v`)."""
    version = event.get("v", V1)
    if version == V1:
        return v1_hash(event)
    if version == V2:
        return v2_hash(event)
    raise ValueError(f"unknown audit event format v{version}")
