"""The bearer tokens identity providers present to the SCIM service (one per provider).

A token is 32 random bytes shown once when minted; only its SHA-256 is stored, so a copy of
the database gives no working token. Minting replaces the provider's previous token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import ValidationFailed
from policies_app.documents.checker import NAME_RE
from policies_app.models import DirectoryToken

TOKEN_PREFIX = "apscim_"
# last_used is bookkeeping for the admin page, not a state change: written at most this
# often per token, without an audit event.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def directory_token_mint(*, provider: str, actor: AbstractBaseUser | str | None) -> str:
    """A new token for `provider` (returned once, never stored), replacing its previous
    one; audited as `scim_token.minted`."""
    if not isinstance(provider, str) or not NAME_RE.match(provider):
        raise ValidationFailed(f"{provider!r} is not a provider name", field="provider")
    key = TOKEN_PREFIX + secrets.token_urlsafe(32)
    replaced = DirectoryToken.objects.filter(provider=provider).delete()[0] > 0
    DirectoryToken.objects.create(provider=provider, key_hash=_digest(key))
    data = {"provider": provider, "replaced": replaced}
    audit_record_many([AuditEntry("scim_token.minted", "scim_token", provider, actor, data)])
    return key


@transaction.atomic
def directory_token_revoke(*, provider: str, actor: AbstractBaseUser | str | None) -> bool:
    """Delete `provider`'s token (its SCIM calls fail from the next one); audited. False if
    it had none."""
    gone = DirectoryToken.objects.filter(provider=provider).delete()[0] > 0
    if gone:
        entry = AuditEntry("scim_token.revoked", "scim_token", provider, actor, {})
        audit_record_many([entry])
    return gone


def directory_token_provider(key: str) -> str | None:
    """The provider whose token `key` is, or None. The row is found by the key's hash and
    the hashes compared in constant time."""
    if not key or len(key) > 200:
        return None
    digest = _digest(key)
    row = DirectoryToken.objects.filter(key_hash=digest).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    now = timezone.now()
    if row.last_used is None or now - row.last_used > LAST_USED_RESOLUTION:
        DirectoryToken.objects.filter(pk=row.pk).update(last_used=now)
    return row.provider
