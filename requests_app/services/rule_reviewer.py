"""The system reviewer identity review rules write their reviews as (README "Review rules").

One account, `auto-review`, with no usable password and no roles: it can never sign in, and
`review_refusal` lets it review only by a rule (`RuleReview`), never through the surfaces.
One identity for every rule keeps invariant 3: at most one rule review per request.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

RULE_REVIEWER_USERNAME = "auto-review"


class RuleReview(NamedTuple):
    """What lets the system identity review: the rule that fired and the inputs that made it
    fire (recorded in the audit event)."""

    name: str
    inputs: dict[str, Any]


class RuleReviewerUnavailable(Exception):
    """An account named `auto-review` exists and is a person's (a usable password, staff):
    rules refuse to review as it."""


def is_rule_reviewer(user: AbstractBaseUser) -> bool:
    """Whether `user` is the review-rule identity."""
    return (
        user.get_username() == RULE_REVIEWER_USERNAME
        and not user.has_usable_password()
        and not user.is_staff
        and not user.is_superuser
    )


def rule_reviewer() -> AbstractBaseUser:
    """The review-rule identity, created on first use."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        **{User.USERNAME_FIELD: RULE_REVIEWER_USERNAME},
        defaults={"first_name": "Review rules", "is_active": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if not is_rule_reviewer(user):
        raise RuleReviewerUnavailable(
            f"the account {RULE_REVIEWER_USERNAME!r} belongs to a person; review rules "
            "do not review as it (rename that account)"
        )
    return user
