"""Reads of the credential signing keys: the public JWKS and the keys' list."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from requests_app.credential_models import SigningKey


def jwks(at: datetime | None = None) -> dict:
    """The JSON Web Key Set a downstream service verifies credentials with: the public
    keys published at `at` (now), newest first. Never a private key: the column is not
    even read."""
    rows = SigningKey.objects.published_at(at or timezone.now()).values_list(
        "public_jwk", flat=True
    )
    return {"keys": list(rows)}


def signing_keys() -> QuerySet[SigningKey]:
    """Every signing key, newest first, without its sealed private key."""
    return SigningKey.objects.defer("private_key")
