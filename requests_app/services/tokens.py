"""API tokens for the CLI and integrations (DRF's `authtoken`, one token per user).

The portal shows the key to its owner once, when it is created; a password login
(`POST /api/v1/auth/token/`, `accessctl login --user`) hands the owner their existing key, or
a new one. The audit log records that a token was created or revoked, never the key.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import Conflict
from accessportal.kernel.locking import retry_on_conflict


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
        raise Conflict("you already have an API token: replace it or revoke it first")
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


def _audit_created(user: AbstractBaseUser, *, replaced: bool, via: str | None = None) -> None:
    data = {"user": user.get_username(), "replaced": replaced}
    if via:
        data["via"] = via
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
    audit_record(
        action="api_token.revoked",
        target_type="user",
        target_id=str(user.pk),
        actor=user,
        data={"user": user.get_username()},
    )
    return True
