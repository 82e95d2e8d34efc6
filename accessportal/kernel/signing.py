"""HMAC-SHA256 signatures of JSON webhooks (documented in docs/notifications.md): notification
deliveries, audit anchors and the webhook provisioner sign the same way.

The signed bytes are `<timestamp>.<body>`: the decimal Unix time of the
`X-AccessPortal-Timestamp` header, a dot, and the raw request body. The signature header is
`X-AccessPortal-Signature: sha256=<hex digest>`. Receivers recompute it with the shared
secret, compare in constant time and refuse timestamps older than a few minutes (replays).
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-AccessPortal-Timestamp"
SIGNATURE_HEADER = "X-AccessPortal-Signature"
DELIVERY_HEADER = "X-AccessPortal-Delivery"
EVENT_HEADER = "X-AccessPortal-Event"
DEFAULT_TOLERANCE = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-AccessPortal-Signature` value for `body` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def webhook_headers(secret: str, body: bytes, *, event: str, delivery: str) -> dict[str, str]:
    """Every header of a signed webhook: its event, its delivery id, its time and signature.
    The one way webhooks are signed (notification deliveries and audit anchors)."""
    return {EVENT_HEADER: event, DELIVERY_HEADER: delivery, **signed_headers(secret, body)}


def verify(
    secret: str,
    timestamp: str,
    signature_header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a received webhook is authentic and fresh (the receiver's side)."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, sent, body), signature_header or "")
