"""API tokens for the CLI and integrations (DRF's `authtoken`, one token per user).

The key is shown to its owner once, when it is created; the audit log records that a token
was created or revoked, never the key.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from requests_app.errors import Conflict
from requests_app.services.audit import audit_record


@transaction.atomic
def api_token_create(*, user: AbstractBaseUser, replace: bool = False) -> Token:
    """A new token for `user`. With a token already there: Conflict, or with `replace` the
    old one stops working in the same transaction."""
    old = Token.objects.select_for_update().filter(user=user).first()
    if old is not None and not replace:
        raise Conflict("you already have an API token: replace it or revoke it first")
    if old is not None:
        old.delete()
    token = Token.objects.create(user=user)
    audit_record(
        action="api_token.created",
        target_type="user",
        target_id=str(user.pk),
        actor=user,
        data={"user": user.get_username(), "replaced": old is not None},
    )
    return token


@transaction.atomic
def api_token_revoke(*, user: AbstractBaseUser) -> bool:
    """Delete `user`'s token; False (and no audit event) when they had none."""
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
