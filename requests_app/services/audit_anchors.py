"""Audit anchors: signed checkpoints of the chain, kept where the database owner cannot reach.

An anchor is a JWS (RFC 7515, compact serialization, made and checked with joserfc) whose
payload is `{"seq": N, "hash": "<sha256 of event #N>", "time": "<UTC, RFC 3339>"}`, signed
HS256 with AUDIT_ANCHOR_KEY or Ed25519 with AUDIT_ANCHOR_PRIVATE_KEY_FILE (then checked with
the public key alone). Keys come from the environment, never from the database.

`audit_anchor_take` anchors the chain head and sends the anchor straight to its destinations,
not through the outbox (an outbox row lives in the database its owner controls): one JSON
line appended to AUDIT_ANCHOR_FILE (fsync'd), and a POST to AUDIT_ANCHOR_WEBHOOK_URL signed
like every webhook (docs/notifications.md).
`accessportal.kernel.audit.audit_verify(anchors=...)` then proves the chain still holds each
anchored event.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OctKey, OKPKey

from accessportal.kernel import signing
from accessportal.kernel.audit import GENESIS
from accessportal.kernel.models import AuditChainHead, AuditEvent
from requests_app.notifications import channels

EVENT = "audit.anchor"
_HASH = re.compile(r"[0-9a-f]{64}")


class AnchorError(Exception):
    """An anchor could not be made, read or trusted; the message says why."""


class AnchorNotConfigured(AnchorError):
    """No signing key or no destination: anchors are switched off."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    time: str
    jws: str = ""

    def line(self) -> str:
        """The anchor as one line of the anchor file (the JWS is what counts)."""
        return json.dumps({"seq": self.seq, "hash": self.hash, "time": self.time, "jws": self.jws})


@dataclass
class AnchorResult:
    anchor: Anchor
    delivered: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _pem_key(path: str, what: str) -> OKPKey:
    try:
        return OKPKey.import_key(Path(path).read_bytes())
    except (OSError, ValueError, JoseError) as err:
        raise AnchorError(f"cannot read the {what} {path}: {err}") from None


def _signing_key() -> tuple[str, OctKey | OKPKey]:
    if settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE:
        return "Ed25519", _pem_key(settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE, "anchor private key")
    if settings.AUDIT_ANCHOR_KEY:
        return "HS256", OctKey.import_key(settings.AUDIT_ANCHOR_KEY)
    raise AnchorNotConfigured(
        "no anchor signing key: set AUDIT_ANCHOR_KEY (HS256) or AUDIT_ANCHOR_PRIVATE_KEY_FILE "
        "(Ed25519)"
    )


def _verification_key(alg: str) -> OctKey | OKPKey:
    if alg == "HS256" and settings.AUDIT_ANCHOR_KEY:
        return OctKey.import_key(settings.AUDIT_ANCHOR_KEY)
    if alg == "Ed25519":
        path = settings.AUDIT_ANCHOR_PUBLIC_KEY_FILE or settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE
        if path:
            return _pem_key(path, "anchor public key")
    if alg not in ("HS256", "Ed25519"):
        raise AnchorError(f"unsupported signature algorithm {alg!r}")
    setting = "AUDIT_ANCHOR_KEY" if alg == "HS256" else "AUDIT_ANCHOR_PUBLIC_KEY_FILE"
    raise AnchorError(f"an {alg} anchor needs {setting} to be checked")


def anchor_sign(*, seq: int, hash: str, time: str) -> Anchor:
    alg, key = _signing_key()
    payload = json.dumps({"seq": seq, "hash": hash, "time": time}, sort_keys=True)
    token = jws.serialize_compact({"alg": alg}, payload, key, algorithms=[alg])
    return Anchor(seq, hash, time, token)


def anchor_verify(token: str) -> Anchor:
    """The anchor a JWS carries, once its signature is checked; AnchorError otherwise."""
    try:
        alg = jws.extract_compact(token.encode()).protected.get("alg", "")
    except (JoseError, ValueError, UnicodeError) as err:
        raise AnchorError(f"not a JWS: {err}") from None
    key = _verification_key(alg)
    try:
        payload = json.loads(jws.deserialize_compact(token, key, algorithms=[alg]).payload)
    except JoseError:
        raise AnchorError("the signature is not valid") from None
    except ValueError as err:
        raise AnchorError(f"the signed payload is not JSON: {err}") from None
    seq, digest, time = payload.get("seq"), payload.get("hash"), payload.get("time")
    if not isinstance(seq, int) or seq < 0 or not _HASH.fullmatch(str(digest)):
        raise AnchorError("the signed payload has no valid seq and hash")
    return Anchor(seq, digest, str(time), token)


def anchor_parse(text: str) -> tuple[int, str]:
    """`SEQ:HASH` as given on the command line."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or not _HASH.fullmatch(digest.lower()):
        raise AnchorError(f"{text!r} is not SEQ:HASH (a sequence number and 64 hex digits)")
    return int(seq), digest.lower()


def anchors_read(path: str) -> tuple[list[Anchor], list[str]]:
    """Every anchor of an anchor file whose signature holds, and a problem per other line."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError) as err:
        raise AnchorError(f"cannot read the anchor file {path}: {err}") from None
    anchors, problems = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            anchor = anchor_verify(str(record["jws"]))
        except (ValueError, TypeError, KeyError) as err:
            problems.append(f"{path}:{number}: not an anchor line ({err!r})")
            continue
        except AnchorError as err:
            problems.append(f"{path}:{number}: {err}")
            continue
        if (record.get("seq"), record.get("hash")) != (anchor.seq, anchor.hash):
            problems.append(f"{path}:{number}: the line does not say what its JWS signs")
            continue
        anchors.append(anchor)
    return anchors, problems


def anchor_current() -> tuple[int, str]:
    """The chain head's (seq, hash), once its event is found to carry that hash."""
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is None:
        if AuditEvent.objects.exists():
            raise AnchorError("the audit chain head is missing: run verify_audit")
        return 0, GENESIS
    seq, digest = head
    if seq and AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first() != digest:
        raise AnchorError(f"the chain head (#{seq}) does not match its event: run verify_audit")
    return seq, digest


def _append_line(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _post(anchor: Anchor) -> None:
    body = json.dumps(
        {"event": EVENT, "anchor": {"seq": anchor.seq, "hash": anchor.hash, "time": anchor.time},
         "jws": anchor.jws}
    ).encode()  # fmt: skip
    headers = signing.webhook_headers(
        settings.AUDIT_ANCHOR_WEBHOOK_SECRET,
        body,
        event=EVENT,
        delivery=f"audit-anchor-{anchor.seq}-{anchor.time}",
    )
    channels.post(channels.resolve_url(settings.AUDIT_ANCHOR_WEBHOOK_URL), body, headers)


def audit_anchor_take() -> AnchorResult:
    """Sign an anchor of the chain head now and send it to every configured destination.

    Raises AnchorNotConfigured without a key or a destination; a destination that fails is
    listed in `failures` (the others are still written)."""
    if not (settings.AUDIT_ANCHOR_FILE or settings.AUDIT_ANCHOR_WEBHOOK_URL):
        raise AnchorNotConfigured(
            "no anchor destination: set AUDIT_ANCHOR_FILE and/or AUDIT_ANCHOR_WEBHOOK_URL"
        )
    _signing_key()
    seq, digest = anchor_current()
    now = timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z")
    result = AnchorResult(anchor_sign(seq=seq, hash=digest, time=now))
    if settings.AUDIT_ANCHOR_FILE:
        try:
            _append_line(settings.AUDIT_ANCHOR_FILE, result.anchor.line())
            result.delivered.append(settings.AUDIT_ANCHOR_FILE)
        except OSError as err:
            result.failures.append(f"file {settings.AUDIT_ANCHOR_FILE}: {err}")
    if settings.AUDIT_ANCHOR_WEBHOOK_URL:
        try:
            _post(result.anchor)
            result.delivered.append("webhook")
        except channels.DeliveryError as err:
            result.failures.append(f"webhook: {err.message}")
    return result
