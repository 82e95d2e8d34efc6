"""Which user names a person's account may have: the one rule every path that creates or
names an account calls (SSO first sign-in, SCIM, `kind: user` documents, local accounts).

A user name is 1-150 letters, digits or `@ . + - _` (Django's UnicodeUsernameValidator).
System identities use a name with a character outside that set (`:`), so no person's
account can ever be created under it, take it over, or be taken for it; the names are
listed here and refused by name too, whatever the validator allows.
"""

from __future__ import annotations

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError

# The identity review rules write their reviews as (requests_app.services.rule_reviewer).
RULE_REVIEWER_USERNAME = "system:review-rules"
# Who started a scheduled access review run and settled its missed items
# (requests_app.services.access_reviews): a name no person's account can have.
ACCESS_REVIEWS_USERNAME = "system:access-reviews"
SYSTEM_USERNAMES = frozenset({RULE_REVIEWER_USERNAME, ACCESS_REVIEWS_USERNAME})
MAX_USERNAME = 150


def is_system_username(name: str) -> bool:
    """Whether `name` is reserved for a system identity (compared case-insensitively, as
    sign-ins match accounts)."""
    return isinstance(name, str) and name.casefold() in {n.casefold() for n in SYSTEM_USERNAMES}


def username_refusal(name: object) -> str:
    """Why `name` cannot be a person's user name, or "" when it can."""
    if not isinstance(name, str) or not name:
        return "a user name is required"
    if is_system_username(name):
        return f"the user name {name!r} is reserved for a system identity"
    if len(name) > MAX_USERNAME:
        return f"a user name is at most {MAX_USERNAME} characters"
    try:
        UnicodeUsernameValidator()(name)
    except ValidationError:
        return "a user name is 1-150 letters, digits or @ . + - _"
    return ""
