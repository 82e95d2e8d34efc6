"""The audit chain's hash format: the one implementation the server appends with and
`accessctl evidence verify` checks a bundle with, offline. Standard library only.

v1 (events written before the cut-over): hash = sha256(canonical JSON of every field,
`data` raw, `prev_hash` included).

v2 (from the first event written by a server that knows it onward):
    text commitment   c(v)   = sha256(canonical(v)) for a string value (reasons, names...),
                               H itself for a purged {"$purged": H}; any other value (ids,
                               numbers, lists, times) stands for itself
    fields commitment F      = sha256(canonical({created, actor_id, actor_name, action,
                                                 data: {key: c(value)}}))
    target commitment T      = sha256(canonical([target_type, target_id]))
    body commitment   B      = sha256(canonical({v: 2, seq, target: T, fields: F}))
    hash                     = sha256(prev_hash ‖ B)          (64 + 64 hex characters)
so an event is linked into the chain by B alone (a proof through someone else's event shows
its seq, T and F, never its content nor whom it was about), and a string replaced by its
purged marker keeps the same commitment, hash and anchors. Only strings are hashed one by
one: they are what a purge removes (reasons), and hashing every value separately tripled the
cost of appending.
docs/SECURITY.md, "Audit chain format".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

GENESIS = "0" * 64
V1, V2 = 1, 2
PURGED = "$purged"
# How a purged text column (a request's reason) is stored: the prefix, then the value's c(v).
PURGED_TEXT = "$purged:"
HEX64 = re.compile(r"[0-9a-f]{64}")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _fast_encoder():
    """json's C encoder built once (JSONEncoder.encode builds one per call: a third of the
    cost of hashing an event); None where it is missing or does not write what
    JSONEncoder writes (another Python), and then JSONEncoder is used."""
    try:
        from json.encoder import c_make_encoder, encode_basestring

        def default(value):
            raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

        encode = c_make_encoder(None, default, encode_basestring, None, ":", ",", True, False,
                                True)  # fmt: skip
        sample = {"b": [1, 2.5, None, True, 'é\n"'], "a": {"z": -1, "y": ""}}
        if "".join(encode(sample, 0)) != _CANONICAL.encode(sample):
            return None
        return encode
    except Exception:  # noqa: BLE001 - any surprise: the plain encoder
        return None


_FAST = _fast_encoder()
_encode_string = json.encoder.encode_basestring  # JSONEncoder.encode's own, for one string


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the text every hash of the chain is taken over."""
    if _FAST is None or type(value) is str:
        return _CANONICAL.encode(value)
    return "".join(_FAST(value, 0))


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
    if type(value) is dict and PURGED in value and is_purged(value):
        return value[PURGED]
    return sha256(canonical(value))


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


def _committed(value: Any) -> Any:
    """What F holds of one value of `data`: a string's hash, a purged marker's hash (the
    same), any other value as it is."""
    if type(value) is str:
        # What _CANONICAL.encode writes for a string (ensure_ascii off), without its checks.
        return sha256(_encode_string(value))
    if type(value) is dict and PURGED in value and is_purged(value):
        return value[PURGED]
    return value


def fields_commitment(event: Mapping[str, Any]) -> str:
    """F: sha256 of canonical({created, actor_id, actor_name, action, data: committed}).

    `data` sorts last of the five keys, so the canonical text is the text of the other four
    with the committed data appended (`_fields_head`, the same for every event of one
    append: a sweep's 100k events share one); the golden vectors pin the result."""
    data = event["data"] or {}
    committed = {key: _committed(value) for key, value in data.items()}
    head_values = (event["created"], event["actor_id"], event["actor_name"], event["action"])
    if not all(type(value) in _HEAD_CACHEABLE for value in head_values):
        # Not a cache key, or one that equals another with a different text (0.0 and -0.0,
        # 1.0 and 1): the text built whole.
        return sha256(
            canonical(
                {
                    "created": event["created"],
                    "actor_id": event["actor_id"],
                    "actor_name": event["actor_name"],
                    "action": event["action"],
                    "data": committed,
                }
            )
        )
    return sha256(_fields_head(*head_values) + canonical(committed) + "}")


# Types whose equal values have one canonical text (typed: 1 and True do not share an entry).
_HEAD_CACHEABLE = frozenset({str, int, bool, type(None)})


@lru_cache(maxsize=512, typed=True)
def _fields_head(created: Any, actor_id: Any, actor_name: Any, action: Any) -> str:
    """The canonical text of F's object up to the value of its last key, `data`."""
    text = canonical(
        {"created": created, "actor_id": actor_id, "actor_name": actor_name, "action": action}
    )
    return text[:-1] + ',"data":'


def target_commitment(target_type: str, target_id: str) -> str:
    """T: what a v2 body commits of an event's target, so a proof through another person's
    event shows neither its content nor whom or what it was about (a username, a token id)."""
    return sha256(canonical([target_type, target_id]))


def body_commitment(*, seq: int, target: str, fields: str) -> str:
    """B of a v2 event, from its target commitment T and fields commitment F."""
    return sha256(canonical({"v": V2, "seq": seq, "target": target, "fields": fields}))


def link(prev_hash: str, body: str) -> str:
    return sha256(prev_hash + body)


def v2_hash(event: Mapping[str, Any]) -> str:
    body = body_commitment(
        seq=event["seq"],
        target=target_commitment(event["target_type"], event["target_id"]),
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


# -- purges and what covers them --------------------------------------------------------

PURGE_ACTION = "retention.purged"


def has_purged(data: Any) -> bool:
    """Whether an event's data holds a purged marker."""
    return isinstance(data, dict) and any(is_purged(v) for v in data.values())


def _when(text: Any):
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


class PurgeCoverage:
    """The one rule that tells a retention purge from another redaction: every event holding
    a purged marker must be followed, later in the chain, by a `retention.purged` event
    whose `cutoff` is after the event was created (the purge only reaches what was finished
    before its cutoff). Feed events in sequence order with `see`; `uncovered()` lists the
    seqs no purge event covers. Used by `verify_audit` and the evidence verifier."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, Any]] = []

    def see(self, event: Mapping[str, Any]) -> None:
        data = event.get("data")
        if event.get("action") == PURGE_ACTION and isinstance(data, dict):
            cutoff = _when(data.get("cutoff"))
            if cutoff is not None and self._pending:
                self._pending = [
                    (seq, created)
                    for seq, created in self._pending
                    if created is None or not created < cutoff
                ]
        if has_purged(data):
            created = event.get("created")
            created = created if not isinstance(created, str) else _when(created)
            self._pending.append((int(event.get("seq") or 0), created))

    def uncovered(self) -> list[int]:
        return [seq for seq, _ in self._pending]
