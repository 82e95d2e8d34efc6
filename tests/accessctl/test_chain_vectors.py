"""Known-answer vectors of the audit chain's hash formats (accessctl/chain.py).

Server and verifier share one implementation, so a change to it moves both together and
every round-trip test stays green while the chains already stored stop verifying. These
fixed events and hashes fail instead. Never update them: a new format is a new version."""

from __future__ import annotations

from accessctl import chain

TRICKY = 'INC-7: fix é "q"\n\t\\/\u0001'
EVENT = {
    "seq": 7,
    "created": "2026-01-02T03:04:05.678901+00:00",
    "actor_id": 3,
    "actor_name": "alice",
    "action": "request.created",
    "target_type": "access_request",
    "target_id": "0b1e7d2a-5c3f-4e8a-9d61-2f4b8c0e1a93",
    "data": {"reason": TRICKY, "roles": ["db-admin"], "resources": [], "n": 2.5, "ok": True,
             "none": None},
    "prev_hash": "ab" * 32,
}  # fmt: skip

V1 = "0c64c5943f0cb700466de47d1155ea828adea1da80b69f7e7e0beb031bc87f7b"
V2 = "715840dfd5d5a3e20c56f80a0dde2a6dd9aa1b00c7f5bd57d29b04b988bed071"
FIELDS = "8b5b6a56292265bbbc152c3d5da2b4a58b2c8313a02754d4ed0f5f111df97993"
TARGET = "44141d9cb0ef9e24969156228a35eeae09eae102a079e735de59b919bc073109"
REASON = "0634ca84ea275ae31aaf00412edb693b3ef42ec14ee255bba90dfe446da9b633"


def test_the_canonical_text_of_a_string_is_fixed():
    assert chain.canonical(TRICKY) == '"INC-7: fix é \\"q\\"\\n\\t\\\\/\\u0001"'
    assert chain.canonical({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'


def test_v1_and_v2_hashes_of_a_fixed_event_are_fixed():
    assert chain.event_hash({**EVENT, "v": 1}) == V1
    assert chain.event_hash({**EVENT, "v": 2}) == V2
    assert chain.fields_commitment(EVENT) == FIELDS
    assert chain.target_commitment(EVENT["target_type"], EVENT["target_id"]) == TARGET
    assert chain.commitment(TRICKY) == REASON


def test_a_purged_marker_keeps_the_v2_hash():
    purged = {**EVENT, "v": 2, "data": {**EVENT["data"], "reason": chain.purged(TRICKY)}}
    assert purged["data"]["reason"] == {"$purged": REASON}
    assert chain.event_hash(purged) == V2
    assert chain.text_purged(TRICKY) == "$purged:" + REASON


def test_the_fields_commitment_is_the_hash_of_the_whole_canonical_text():
    """F is built from a cached text of its first four keys; the result is the hash of the
    whole object's canonical text, for each type of value (1 and True are not one key)."""
    for actor_id in (1, True, 1.0, None, "1", 0.0, -0.0):  # 0.0 == -0.0, two texts
        event = {**EVENT, "actor_id": actor_id}
        committed = {key: chain.commitment(v) if isinstance(v, str) else v
                     for key, v in event["data"].items()}  # fmt: skip
        whole = {key: event[key] for key in ("created", "actor_id", "actor_name", "action")}
        expected = chain.sha256(chain.canonical({**whole, "data": committed}))
        assert chain.fields_commitment(event) == expected
    assert chain.fields_commitment({**EVENT, "data": None}) == chain.sha256(
        chain.canonical({**{k: EVENT[k] for k in ("created", "actor_id", "actor_name",
                                                  "action")}, "data": {}})
    )  # fmt: skip
