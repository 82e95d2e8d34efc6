"""The account behind a verified OpenID Connect sign-in: found, created or linked, then
brought up to date with the provider's claims. One transaction, audited.

Lives with the sign-in surface because the (provider, subject) link is allauth's
SocialAccount; what the claims mean (username, email, traits, roles) is the provider's
`sso_mapping`, applied by policies_app.services.identity and nowhere else.
"""

from __future__ import annotations

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import (
    ConcurrentUpdate,
    Conflict,
    NotAllowed,
    ValidationFailed,
)
from accessportal.kernel.locking import retry_on_conflict, username_lock
from accessportal.kernel.storable import unstorable
from accessportal.kernel.usernames import username_refusal
from policies_app.selectors import accounts_adoptable_by
from policies_app.services.identity import identity_apply, sso_identity


class AccountConflict(Conflict):
    """A new (provider, subject) whose user name belongs to an account that may not be
    taken over: one with a password, staff or superuser, or linked to another subject."""

    code = "sso_account_conflict"


class AccountDisabled(NotAllowed):
    code = "sso_account_disabled"


def _linkable(user: AbstractBaseUser, provider: str) -> bool:
    """A local account a first sign-in through `provider` may take over: one the provider
    may adopt (`policies_app.selectors.accounts_adoptable_by`, the rule SCIM applies too)
    and not yet linked to any subject."""
    adoptable = get_user_model().objects.filter(pk=user.pk).filter(accounts_adoptable_by(provider))
    return adoptable.exists() and not SocialAccount.objects.filter(user=user).exists()


def _username(provider: str, claims: dict) -> str:
    username = sso_identity(provider, claims)["username"]
    if not username:
        raise ValidationFailed(
            f"the identity provider {provider!r} sent no user name claim; check the "
            "sso_mapping's spec.claims.username and the scopes requested"
        )
    if refusal := username_refusal(username):
        raise ValidationFailed(
            f"the user name {username!r} from {provider!r} is not usable here: {refusal}"
        )
    return username


@retry_on_conflict
@transaction.atomic
def sso_sign_in(*, provider: str, uid: str, claims: dict, extra_data: dict) -> SocialAccount:
    """The SocialAccount (with its user) that may sign in as `uid` of `provider`, whose
    verified ID-token claims are `claims`, after `identity_apply`. Raises NoMapping (the
    provider has no sso_mapping), AccountConflict, AccountDisabled or ValidationFailed;
    then nothing was saved and nobody may be signed in. Audits `user.sso_created` or
    `user.sso_linked` when this subject is new here."""
    if problems := unstorable({"sub": uid, "claims": claims, "userinfo": extra_data}):
        raise ValidationFailed(
            f"the identity provider {provider!r} sent what cannot be stored: {problems[0]}"
        )
    account = (
        SocialAccount.objects.select_for_update()
        .select_related("user")
        .filter(provider=provider, uid=uid)
        .first()
    )
    how = None
    if account is None:
        username = _username(provider, claims)
        username_lock(username)  # a first sign-in racing a SCIM push or another sign-in
        users = get_user_model().objects.select_for_update()
        user = users.filter(username__iexact=username).order_by("pk").first()
        if user is None:
            how = "created"
        elif _linkable(user, provider):
            how = "linked"
        else:
            raise AccountConflict(
                f"an account named {user.get_username()!r} already exists and cannot be "
                f"taken over by a sign-in through {provider!r}; an administrator must "
                "resolve it (remove its password or rename one of them)"
            )
        try:  # two first sign-ins at once: one wins the unique constraints
            with transaction.atomic():
                if user is None:
                    user = get_user_model().objects.create_user(username=username, password=None)
                account = SocialAccount.objects.create(
                    user=user, provider=provider, uid=uid, extra_data=extra_data
                )
        except IntegrityError:
            raise ConcurrentUpdate("this account was signed in twice at once; try again") from None
    user = account.user
    if not user.is_active:
        raise AccountDisabled(f"the account {user.get_username()!r} is disabled")
    identity_apply(user=user, provider=provider, claims=claims)
    if how:
        audit_record(
            action=f"user.sso_{how}",
            target_type="user",
            target_id=user.get_username(),
            actor=f"sso:{provider}",
            data={"provider": provider, "subject": uid},
        )
    return account
