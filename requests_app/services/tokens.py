"""API tokens for the CLI and integrations.

Two kinds. The personal token (DRF's `authtoken`, one per user, no expiry): the portal shows
its key to its owner once, when it is created; a password login (`POST /api/v1/auth/token/`,
`accessctl login --user`) hands the owner their existing key, or a new one. And session
tokens (`ApiToken`, many per user, hashed, expiring) that `accessctl login --sso` mints
(`api_token_mint`). The audit log records that a token was created or revoked, never the key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import Conflict, TokenExists
from accessportal.kernel.locking import retry_on_conflict
from requests_app.models import ApiToken

# Session token keys: a prefix that tells them from personal (40-hex) keys, 48 hex digits.
SESSION_KEY_PREFIX = "apt_"


def _audit_revoked(user: AbstractBaseUser, **data: object) -> None:
    audit_record(
        action="api_token.revoked",
        target_type="user",
        target_id=str(user.pk),
        actor=user,
        data={"user": user.get_username(), **data},
    )


def _lock_owner(user: AbstractBaseUser) -> None:
    """Serialize token changes of one user on their account row. Locking the token row is
    not enough: when there is none yet, two creations both see none, and the second insert
    hits the one-token-per-user constraint (an IntegrityError, a 500). FOR NO KEY UPDATE, so
    rows that merely reference the user can still be written meanwhile."""
    get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()


@retry_on_conflict
@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, replace: bool = False) -> Token:
    """A new token for `user`. With a token already there: Conflict, or with `replace` the
    old one stops working in the same transaction."""
    _lock_owner(user)
    old = Token.objects.filter(user=user).first()
    if old is not None and not replace:
        raise TokenExists("you already have an API token: replace it or revoke it first")
    if old is not None:
        old.delete()
    token = Token.objects.create(user=user)
    _audit_created(user, replaced=old is not None)
    return token


@retry_on_conflict
@transaction.atomic
def api_token_get_or_create(*, user: AbstractBaseUser) -> Token:
    """`user`'s token, created (and audited) when they have none: what a password login
    returns. Caller must have checked the password. Two first logins at once both get the
    one token: the second waits on the account lock, then finds it."""
    _lock_owner(user)
    token = Token.objects.filter(user=user).first()
    if token is None:
        token = Token.objects.create(user=user)
        _audit_created(user, replaced=False, via="password")
    return token


def digest(secret: str) -> str:
    """How keys and one-time codes are stored: their SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MintedToken:
    """A session token just made; `key` exists only here, never in the database."""

    key: str
    expires_at: datetime
    user: AbstractBaseUser


def api_token_mint(*, user: AbstractBaseUser, via: str, now: datetime | None = None) -> MintedToken:
    """A new session token for `user`, valid ACCESSPORTAL_CLI_TOKEN_TTL seconds, audited as
    api_token.created with `via`. Caller runs it in its transaction, having confirmed who
    `user` is; the audit event is the caller's last write."""
    now = now or timezone.now()
    key = SESSION_KEY_PREFIX + secrets.token_hex(24)
    expires_at = now + timedelta(seconds=settings.ACCESSPORTAL_CLI_TOKEN_TTL)
    ApiToken.objects.create(
        user=user, key_hash=digest(key), created=now, expires_at=expires_at, created_via=via
    )
    _audit_created(user, replaced=False, via=via, expires_at=expires_at)
    return MintedToken(key=key, expires_at=expires_at, user=user)


@retry_on_conflict
@transaction.atomic
def session_token_revoke(*, user: AbstractBaseUser, token_id: int) -> bool:
    """`user` ends one of their own session tokens now (the portal's "Sign out" beside it);
    False, and nothing audited, if it is not theirs or already ended."""
    now = timezone.now()
    ended = ApiToken.objects.filter(
        pk=token_id, user=user, revoked_at=None, expires_at__gt=now
    ).update(revoked_at=now)
    if not ended:
        return False
    _audit_revoked(user, session_token=token_id)
    return True


class SharedToken(Conflict):
    """Signing out with the personal token would sign out every machine and script that
    uses it: ask with `everywhere=true`, or revoke it on the portal's API token page."""

    code = "shared_token"


def token_sign_out(*, user: AbstractBaseUser, token: object, everywhere: bool = False) -> None:
    """`accessctl logout`: the caller ends the token they authenticated with. A session
    token (`login --sso`, one per sign-in) ends alone; the personal token, which every
    `login --user` on every machine shares, only when the caller says `everywhere`."""
    if isinstance(token, ApiToken):
        session_token_revoke(user=user, token_id=token.pk)
        return
    if not everywhere:
        raise SharedToken(
            "This is your personal API token: every machine and script that signed in with "
            "your password uses it too. Sign out everywhere with everywhere=true "
            "(`accessctl logout --everywhere`), or revoke it on the portal's API token page."
        )
    with transaction.atomic():
        api_token_revoke(user=user)


def session_tokens_revoke(*, user: AbstractBaseUser, now: datetime) -> int:
    """Revoke every live session token of `user` (deprovisioning); the count revoked. The
    caller audits, in its own transaction."""
    return ApiToken.objects.filter(user=user, revoked_at=None, expires_at__gt=now).update(
        revoked_at=now
    )


def _audit_created(
    user: AbstractBaseUser,
    *,
    replaced: bool,
    via: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    data = {"user": user.get_username(), "replaced": replaced}
    if via:
        data["via"] = via
    if expires_at:
        data["expires_at"] = expires_at.isoformat()
    audit_record(
        action="api_token.created",
        target_type="user",
        target_id=str(user.pk),
        actor=user,
        data=data,
    )


@retry_on_conflict
@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete `user`'s token; False (and no audit event) when they had none."""
    _lock_owner(user)
    deleted, _ = Token.objects.filter(user=user).delete()
    if not deleted:
        return False
    _audit_revoked(user)
    return True
