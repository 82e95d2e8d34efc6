"""The system reviewer identity review rules write their reviews as (README "Review rules").

One account, `system:review-rules` (accessportal.kernel.usernames.RULE_REVIEWER_USERNAME),
with no usable password and no roles. Its name holds a `:`, which no person's user name may
(`username_refusal`, called by SSO, SCIM, `kind: user` documents and local accounts), so
nobody can sign in as it, be linked or adopted to it, or give it standing roles, and no
person's account is ever taken for it. `review_refusal` lets it review only by a rule
(`RuleReview`), never through the surfaces. One identity for every rule keeps invariant 3:
at most one rule review per request.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accessportal.kernel.audit import audit_record
from accessportal.kernel.choices import AuditAction
from accessportal.kernel.usernames import RULE_REVIEWER_USERNAME

__all__ = [
    "RULE_REVIEWER_USERNAME",
    "RuleReview",
    "RuleReviewerUnavailable",
    "is_rule_reviewer",
    "rule_reviewer",
]


class RuleReview(NamedTuple):
    """What lets the system identity review: the rule that fired and the inputs that made it
    fire (recorded in the audit event)."""

    name: str
    inputs: dict[str, Any]


class RuleReviewerUnavailable(Exception):
    """The account under the reserved name is not the system identity (it has a usable
    password, is staff, or is linked to an identity provider): rules refuse to review as it.
    Only a database edit outside the portal can make such an account."""


def is_rule_reviewer(user: AbstractBaseUser) -> bool:
    """Whether `user` is the review-rule identity."""
    return (
        user.get_username() == RULE_REVIEWER_USERNAME
        and not user.has_usable_password()
        and not user.is_staff
        and not user.is_superuser
    )


def _person_links(user: AbstractBaseUser) -> bool:
    """Whether an identity provider signs people in as, or manages, `user`."""
    from allauth.socialaccount.models import SocialAccount

    from policies_app.models import DirectoryUser

    return (
        SocialAccount.objects.filter(user=user).exists()
        or DirectoryUser.objects.filter(user=user).exists()
    )


def rule_reviewer() -> AbstractBaseUser:
    """The review-rule identity, created (and audited) on first use. Raises
    RuleReviewerUnavailable when the account under its name is not the system identity."""
    User = get_user_model()
    lookup = {User.USERNAME_FIELD: RULE_REVIEWER_USERNAME}
    user = User.objects.filter(**lookup).first()
    if user is None:
        try:
            user = _create()
        except IntegrityError:  # created by another worker at the same moment
            user = User.objects.get(**lookup)
    if not is_rule_reviewer(user) or _person_links(user):
        raise RuleReviewerUnavailable(
            f"the account {RULE_REVIEWER_USERNAME!r} is not the system identity (it has a "
            "password, staff rights or an identity provider link); review rules do not "
            "review as it"
        )
    return user


@transaction.atomic
def _create() -> AbstractBaseUser:
    User = get_user_model()
    user = User(
        **{User.USERNAME_FIELD: RULE_REVIEWER_USERNAME}, first_name="Review rules", is_active=True
    )
    user.set_unusable_password()
    user.save(force_insert=True)
    audit_record(
        action=AuditAction.USER_SYSTEM_CREATED,
        target_type="user",
        target_id=RULE_REVIEWER_USERNAME,
        actor=None,
        data={"purpose": "review rules"},
    )
    return user
