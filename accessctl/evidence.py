"""Offline verification of an evidence bundle (`accessctl evidence verify`): no server.

A bundle (`GET /api/v1/requests/{id}/evidence/`) carries one request's rows, its audit
events, a chain proof from its first event to a signed anchor, and the anchor. This module
recomputes every event's hash (accessctl/chain.py), links them through the proof's body
commitments (other people's events, without their content) up to the anchored hash, checks
the anchor's signature (Ed25519 with the `cryptography` package, the `evidence` extra; HS256
with a shared key and the standard library), and checks the rows say what the events say.
The first problem found raises BundleInvalid naming it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from accessctl import chain

FORMAT = "accessportal-evidence/1"
ED25519 = ("Ed25519", "EdDSA")
# The event of each final state (and of a revocation); what a request in a state must have.
RESOLUTIONS = {
    "APPROVED": "request.approved",
    "DENIED": "request.denied",
    "WITHDRAWN": "request.withdrawn",
    "EXPIRED": "request.expired",
}
REQUIRED = {
    "PENDING": set(),
    "APPROVED": {"request.approved"},
    "DENIED": {"request.denied"},
    "WITHDRAWN": {"request.withdrawn"},
    "EXPIRED": {"request.expired"},
    "REVOKED": {"request.approved", "request.revoked"},
}


class BundleInvalid(Exception):
    """The bundle does not verify; the message names the first problem."""


class KeyNotTrusted(BundleInvalid):
    """An Ed25519 anchor and no trusted key given: the key a bundle carries proves nothing
    (whoever made the bundle chose it)."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            "the anchor's signature is NOT checked against a trusted key: the public key IN "
            f"THE BUNDLE (key id {key_id or 'unknown'}) is whatever its maker put there. Pass "
            "--public-key FILE with your operators' anchor public key "
            '(AUDIT_ANCHOR_PUBLIC_KEY_FILE on the server; docs/deploy.md, "Audit anchors") '
            "and compare its key id with the one they publish"
        )


class MissingDependency(Exception):
    """Checking an Ed25519 anchor needs the `cryptography` package."""


@dataclass
class Verified:
    events: int
    anchor_seq: int
    anchor_time: str
    alg: str
    key_id: str = ""
    purged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ed25519_key_id(raw_public_key: bytes) -> str:
    """RFC 7638 JWK thumbprint (SHA-256) of an Ed25519 public key: the anchor key's id."""
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url_encode(raw_public_key)}
    return _b64url_encode(hashlib.sha256(chain.canonical(jwk).encode()).digest())


def _ed25519_public_key(pem: bytes):
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )
    except ImportError:
        raise MissingDependency(
            "checking an Ed25519 anchor needs the cryptography package: "
            "pip install 'accessctl[evidence]'"
        ) from None
    try:
        key = load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise BundleInvalid(f"the public key is not a PEM public key: {err}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleInvalid("the public key is not an Ed25519 key")
    return key, key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _bundle_key_id(anchor: dict) -> str:
    """The id of the key a bundle carries (to tell the auditor which key to ask for)."""
    pem = anchor.get("public_key")
    if isinstance(pem, str) and pem:
        try:
            return ed25519_key_id(_ed25519_public_key(pem.encode())[1])
        except (BundleInvalid, MissingDependency):
            pass
    return str(anchor.get("key_id") or "")


def _check_signature(anchor: dict, *, public_key: bytes | None, shared_key: bytes | None):
    """(alg, key id, notes) once the anchor's JWS is found signed and saying what the
    bundle says it anchors."""
    token = str(anchor.get("jws") or "")
    parts = token.split(".")
    if len(parts) != 3:
        raise BundleInvalid("the anchor is not a compact JWS")
    try:
        header = json.loads(_b64url(parts[0]))
        payload = json.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeError) as err:
        raise BundleInvalid(f"the anchor's JWS cannot be read: {err}") from None
    alg = header.get("alg") if isinstance(header, dict) else None
    signed = f"{parts[0]}.{parts[1]}".encode()
    notes: list[str] = []
    key_id = ""
    if alg in ED25519:
        if public_key is None:
            raise KeyNotTrusted(_bundle_key_id(anchor))
        key, raw = _ed25519_public_key(public_key)
        key_id = ed25519_key_id(raw)
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(signature, signed)
        except InvalidSignature:
            raise BundleInvalid("the anchor's signature is not valid (forged or altered)") from None
    elif alg == "HS256":
        if not shared_key:
            raise BundleInvalid(
                "an HS256 anchor is checked with the server's shared key: pass --key-file"
            )
        expected = hmac.new(shared_key, signed, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise BundleInvalid("the anchor's signature is not valid (forged or altered)")
        notes.append(
            "HS256 anchor: anyone holding the shared key could have signed it (Ed25519 anchors "
            "are checked with a public key alone)"
        )
    else:
        raise BundleInvalid(f"unsupported anchor signature algorithm {alg!r}")
    if not isinstance(payload, dict) or (
        payload.get("seq"),
        payload.get("hash"),
        payload.get("time"),
    ) != (anchor.get("seq"), anchor.get("hash"), anchor.get("time")):
        raise BundleInvalid("the anchor's fields do not say what its signature signs")
    return alg, key_id, notes


def _events(bundle: dict) -> list[dict]:
    events = bundle.get("events")
    if not isinstance(events, list) or not events:
        raise BundleInvalid("the bundle has no audit events")
    seqs = [e.get("seq") for e in events if isinstance(e, dict)]
    if len(seqs) != len(events) or not all(isinstance(s, int) for s in seqs):
        raise BundleInvalid("an audit event has no sequence number")
    if seqs != sorted(set(seqs)):
        raise BundleInvalid("the audit events are not in sequence order, or repeat")
    return events


def _check_chain(bundle: dict, events: list[dict], ours: set[tuple[str, str]]) -> str:
    """Walk from the first event to the anchor; returns the hash reached."""
    proof = bundle.get("chain") or {}
    anchor = bundle.get("anchor") or {}
    first, last, anchored = events[0]["seq"], events[-1]["seq"], anchor.get("seq")
    if not isinstance(anchored, int) or anchored < last:
        raise BundleInvalid(f"the anchor (#{anchored}) does not cover the last event (#{last})")
    full = {e["seq"]: e for e in events}
    opaque: dict[int, dict] = {}
    hidden = {chain.target_commitment(kind, ident): (kind, ident) for kind, ident in ours}
    for item in proof.get("links") or []:
        seq = item.get("seq") if isinstance(item, dict) else None
        if not isinstance(seq, int) or seq in full or seq in opaque:
            raise BundleInvalid(f"the chain proof has a bad or repeated link (#{seq})")
        if isinstance(item.get("event"), dict):
            # Shown whole: a v1 event (its hash needs it) or a retention purge's event.
            full[seq] = {"v": item.get("v", chain.V1), **item["event"], "seq": seq}
            if (full[seq].get("target_type"), full[seq].get("target_id")) in ours:
                raise BundleInvalid(f"event #{seq} of this request is in the proof, not listed")
        else:
            opaque[seq] = item
    prev = events[0].get("prev_hash")
    for seq in range(first, anchored + 1):
        if seq in full:
            event = full[seq]
            if event.get("prev_hash") != prev:
                raise BundleInvalid(f"#{seq} does not link to the event before it")
            try:
                digest = chain.event_hash(event)
            except (KeyError, TypeError, ValueError) as err:
                raise BundleInvalid(f"#{seq} cannot be hashed: {err!r}") from None
            if digest != event.get("hash"):
                raise BundleInvalid(f"#{seq} was altered: its hash does not match")
            prev = digest
        elif seq in opaque:
            item = opaque[seq]
            if item.get("v") != chain.V2:
                raise BundleInvalid(f"the chain proof's link #{seq} has no v2 body commitment")
            target = str(item.get("target") or "")
            if target in hidden:
                kind, ident = hidden[target]
                raise BundleInvalid(
                    f"event #{seq} of this request ({kind} {ident}) is withheld: "
                    "the proof shows only its commitment"
                )
            fields = str(item.get("fields") or "")
            if not (chain.HEX64.fullmatch(fields) and chain.HEX64.fullmatch(target)):
                raise BundleInvalid(
                    f"the chain proof's link #{seq} has no target or fields commitment"
                )
            body = chain.body_commitment(seq=seq, target=target, fields=fields)
            prev = chain.link(prev, body)
        else:
            raise BundleInvalid(f"event #{seq} is missing from the chain proof (removed)")
    if prev != anchor.get("hash"):
        raise BundleInvalid(f"the chain does not reach the anchored hash of #{anchored}")
    coverage = chain.PurgeCoverage()
    for seq in sorted(full):
        coverage.see(full[seq])
    if uncovered := coverage.uncovered():
        raise BundleInvalid(
            f"event #{uncovered[0]} holds a purged value that no later retention purge "
            "covers: it was redacted outside the retention purge"
        )
    return prev


def _same(value: Any, other: Any) -> bool:
    """Whether two values (either possibly a purged marker) are the same value."""
    return chain.commitment(value) == chain.commitment(other)


def _dicts(value: Any, what: str) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BundleInvalid(f"the bundle's {what} is not a list of objects")
    return value


def _shape(bundle: dict) -> None:
    """Refuse a malformed bundle with a message (never a traceback)."""
    for name in ("request", "anchor", "chain"):
        if not isinstance(bundle.get(name), dict):
            raise BundleInvalid(f"the bundle's {name} is not an object")
    for name in ("reviews", "grants", "events"):
        _dicts(bundle.get(name), name)
    _dicts(bundle["chain"].get("links"), "chain links")
    for event in bundle.get("events") or []:
        if not isinstance(event.get("data"), dict):
            raise BundleInvalid(f"event #{event.get('seq')}'s data is not an object")
    for link in bundle["chain"].get("links") or []:
        if "event" in link and not (
            isinstance(link["event"], dict) and isinstance(link["event"].get("data"), dict)
        ):
            raise BundleInvalid(f"the chain proof's link #{link.get('seq')} is malformed")


def _item(grant: dict) -> Any:
    return grant.get("role") or grant.get("resource")


def _granted(by_action: dict[str, list[dict]]) -> list[dict] | None:
    """The grants the approval event lists (id, role or resource, starts, expires), or None
    for an approval recorded before approval events listed them."""
    approved = by_action.get("request.approved") or []
    if not approved:
        return None
    listed = (approved[-1].get("data") or {}).get("grants")
    return listed if isinstance(listed, list) else None


def _check_rows(bundle: dict, events: list[dict], purged: list[str]) -> None:
    """The rows say what the events say: each field listed in docs/SECURITY.md ("What the
    evidence verifier checks") against the event that records it."""
    request = bundle["request"]
    rid = str(request.get("id") or "")
    grants = _dicts(bundle.get("grants"), "grants")
    grant_ids = {str(g.get("id")) for g in grants}
    for event in events:
        target = (event.get("target_type"), str(event.get("target_id")))
        if target != ("access_request", rid) and not (
            target[0] == "grant" and target[1] in grant_ids
        ):
            raise BundleInvalid(f"event #{event['seq']} is not about this request or its grants")
    mine = [e for e in events if e.get("target_type") == "access_request"]
    by_action: dict[str, list[dict]] = {}
    for event in mine:
        by_action.setdefault(event.get("action"), []).append(event)
    created = (by_action.get("request.created") or [None])[0]
    if created is None:
        raise BundleInvalid("the request's creation event is missing")
    data = created.get("data") or {}
    if data.get("roles") != request.get("roles") or data.get("resources") != request.get(
        "resources"
    ):
        raise BundleInvalid("the request's roles or resources differ from its creation event")
    if not _same(data.get("reason", ""), request.get("reason", "")):
        raise BundleInvalid("the request's reason differs from its creation event")
    if (request.get("user_id"), request.get("user")) != (
        created.get("actor_id"),
        created.get("actor_name"),
    ):
        raise BundleInvalid("the request's requester differs from its creation event's actor")
    state = request.get("state")
    if state not in REQUIRED:
        raise BundleInvalid(f"the request's state {state!r} is unknown")
    present = {a for a in by_action if a in (*RESOLUTIONS.values(), "request.revoked")}
    if present != REQUIRED[state]:
        raise BundleInvalid(
            f"the request's state {state} does not match its events "
            f"({', '.join(sorted(present)) or 'no resolution'})"
        )
    resolution = RESOLUTIONS.get("APPROVED" if state == "REVOKED" else state)
    if resolution:
        event = by_action[resolution][-1]
        said = event.get("data") or {}
        if request.get("resolved_by_id") != event.get("actor_id"):
            raise BundleInvalid("the request's resolver differs from its resolution event's actor")
        if not _same(said.get("reason", ""), request.get("resolve_reason", "")):
            raise BundleInvalid("the request's resolve reason differs from its resolution event")
        if request.get("access_starts") != said.get("access_starts"):
            raise BundleInvalid("the request's access start differs from its resolution event")
        # A ratified break-glass use moves the end; the latest event that says so counts.
        ends = [said.get("access_expires")] + [
            (e.get("data") or {})["access_expires"]
            for e in by_action.get("break_glass.ratified", [])
            if "access_expires" in (e.get("data") or {})
        ]
        if request.get("access_expires") != ends[-1]:
            raise BundleInvalid("the request's access end differs from its events")
    else:
        ends = []
        if (request.get("resolved_by_id"), request.get("access_starts")) != (None, None):
            raise BundleInvalid(f"the request is {state} but has a resolver or an access window")
    if state == "REVOKED":
        event = by_action["request.revoked"][-1]
        revoked = event.get("data") or {}
        if not _same(revoked.get("reason", ""), request.get("revoke_reason", "")):
            raise BundleInvalid("the request's revoke reason differs from its revocation event")
        if request.get("revoked_by_id") != event.get("actor_id"):
            raise BundleInvalid("the request's revoker differs from its revocation event's actor")
    reviews = _dicts(bundle.get("reviews"), "reviews")
    said = Counter(
        (e.get("actor_id"), (e.get("data") or {}).get("state"),
         chain.commitment((e.get("data") or {}).get("reason", "")),
         chain.canonical((e.get("data") or {}).get("thresholds")))
        for e in by_action.get("review.submitted", [])
    )  # fmt: skip
    shown = Counter(
        (r.get("reviewer_id"), r.get("state"), chain.commitment(r.get("reason", "")),
         chain.canonical(r.get("thresholds")))
        for r in reviews
    )  # fmt: skip
    if said != shown:
        raise BundleInvalid(
            "the reviews differ from the review events (reviewer, state, reason, thresholds)"
        )
    _check_grants(request, state, grants, by_action, ends, events)
    if state == "PENDING" and any(chain.has_purged(e.get("data")) for e in events):
        raise BundleInvalid("the request is PENDING but values of its events were purged")
    for name in ("reason", "resolve_reason", "revoke_reason"):
        if chain.is_purged(request.get(name)):
            purged.append(f"request {name}")
    purged += [f"review {r.get('id')} reason" for r in reviews if chain.is_purged(r.get("reason"))]
    for event in events:
        for key, value in (event.get("data") or {}).items():
            if chain.is_purged(value):
                purged.append(f"event #{event['seq']} {key}")


def _check_grants(request, state, grants, by_action, ends, events) -> None:
    requested = (request.get("roles") or []) + (request.get("resources") or [])
    for grant in grants:
        if _item(grant) not in requested:
            raise BundleInvalid(f"grant {grant.get('id')} is for {_item(grant)!r}, not requested")
    if state not in ("APPROVED", "REVOKED"):
        if grants:
            raise BundleInvalid(f"the request is {state} but the bundle has grants")
        return
    # Approval makes exactly one grant per requested item.
    if Counter(_item(g) for g in grants) != Counter(requested):
        raise BundleInvalid(
            f"the request is {state} but its grants are not one per requested item "
            "(a grant is missing or extra)"
        )
    listed = _granted(by_action)
    if listed is not None:
        said = sorted((str(g.get("id")), _item(g) if isinstance(g, dict) else None) for g in listed)
        if said != sorted((str(g.get("id")), _item(g)) for g in grants):
            raise BundleInvalid("the grants differ from those the approval event lists (id, item)")
    for grant in grants:
        if grant.get("starts") != request.get("access_starts"):
            raise BundleInvalid(f"grant {grant.get('id')}'s start differs from the access window")
        if grant.get("expires") not in ends:
            raise BundleInvalid(f"grant {grant.get('id')}'s end differs from the access window")
    for event in events:
        if event.get("target_type") != "grant":
            continue
        data = event.get("data") or {}
        grant = next(g for g in grants if str(g.get("id")) == str(event.get("target_id")))
        if "request" in data and str(data["request"]) != str(request.get("id")):
            raise BundleInvalid(f"event #{event['seq']} is about another request's grant")
        if "target" in data and data["target"] != _item(grant):
            raise BundleInvalid(
                f"grant {grant.get('id')}'s item differs from event #{event['seq']}"
            )


def verify_bundle(
    bundle: Any, *, public_key: bytes | None = None, shared_key: bytes | None = None
) -> Verified:
    """Check a bundle offline; BundleInvalid names the first problem."""
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise BundleInvalid(f"not an evidence bundle ({FORMAT})")
    try:
        _shape(bundle)
        events = _events(bundle)
        request_id = str(bundle["request"].get("id") or "")
        # This request's objects: the request, the grants the bundle lists and those its
        # approval event lists (so a grant cannot be hidden by dropping its row).
        listed = [e for e in events if e.get("target_type") == "access_request"
                  and isinstance((e.get("data") or {}).get("grants"), list)]  # fmt: skip
        ours = (
            {("access_request", request_id)}
            | {("grant", str(g.get("id"))) for g in bundle.get("grants") or []}
            | {
                ("grant", str(g.get("id")))
                for e in listed
                for g in e["data"]["grants"]
                if isinstance(g, dict)
            }  # fmt: skip
        )
        anchor = bundle["anchor"]
        alg, key_id, notes = _check_signature(anchor, public_key=public_key, shared_key=shared_key)
        _check_chain(bundle, events, ours)
        purged: list[str] = []
        _check_rows(bundle, events, purged)
    except BundleInvalid:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, StopIteration) as err:
        raise BundleInvalid(f"the bundle is malformed: {err!r}") from None
    return Verified(len(events), anchor["seq"], str(anchor.get("time")), alg, key_id, purged, notes)
