"""The fingerprint of a previewed request: *Submit* sends exactly what the preview showed.

The preview carries a digest of the fields it was drawn from; a submit that carries one is
sent only if the fields still give the same digest. Otherwise the page shows a fresh preview
and sends nothing (portal.js also clears the preview as soon as a field changes)."""

from __future__ import annotations

import hashlib
import json

DIGEST_FIELD = "preview_digest"


def preview_digest(service_kwargs: dict) -> str:
    """A stable digest of what the form would ask the service for."""
    text = json.dumps(service_kwargs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def preview_changed(data, service_kwargs: dict) -> bool:
    """Whether a submit carries the digest of a preview that no longer matches its fields."""
    sent = data.get(DIGEST_FIELD, "")
    return bool(sent) and sent != preview_digest(service_kwargs)
