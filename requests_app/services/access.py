"""Whether a user has a role or reaches a resource at an instant.

Answers from standing roles and from grants whose window contains the instant, so access
ends at its expiry even if no worker ever runs (invariant 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from policies_app.documents import parse_resource_id
from policies_app.engine import PolicySet
from policies_app.models import Resource
from policies_app.selectors import resource_ref, standing_role_names
from requests_app.errors import ValidationFailed
from requests_app.models import Grant


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    expires: datetime | None = None  # None with allowed=True: standing access
    via: str = ""  # "standing", "grant" or ""


DENY = AccessDecision(False)


def active_grants(user: AbstractBaseUser | int, at: datetime | None = None):
    """Grants of `user` whose window contains `at` and that were not revoked by then."""
    at = at or timezone.now()
    user_id = user if isinstance(user, int) else user.pk
    return Grant.objects.filter(user_id=user_id, starts__lte=at, expires__gt=at).filter(
        Q(revoked_at=None) | Q(revoked_at__gt=at)
    )


def _longest(grants) -> datetime | None:
    return max((g.expires for g in grants), default=None)


def access_check(
    *,
    user: AbstractBaseUser,
    role: str | None = None,
    resource: str | None = None,
    at: datetime | None = None,
) -> AccessDecision:
    """Exactly one of `role` or `resource` (`kind/name`)."""
    if bool(role) == bool(resource):
        raise ValidationFailed("give exactly one of role or resource")
    at = at or timezone.now()
    if not user.is_active:
        return DENY
    standing = standing_role_names(user)
    if role:
        if role in standing:
            return AccessDecision(True, None, "standing")
        expires = _longest(active_grants(user, at).filter(role=role).only("expires"))
        return AccessDecision(True, expires, "grant") if expires else DENY

    if parse_resource_id(resource) is None:
        raise ValidationFailed(f"{resource!r} is not a resource id (kind/name)", field="resource")
    kind, _, name = resource.partition("/")
    row = Resource.objects.filter(kind=kind, name=name).first()
    if row is None:
        return DENY
    grants = list(active_grants(user, at).filter(Q(resource=resource) | ~Q(role="")))
    granted_roles = {g.role for g in grants if g.role}
    policies = PolicySet.load()
    ref = resource_ref(row)
    if any(policies.roles[n].reaches(ref) for n in standing if n in policies.roles):
        return AccessDecision(True, None, "standing")
    reaching = [
        g
        for g in grants
        if g.resource == resource
        or (
            g.role in granted_roles
            and g.role in policies.roles
            and policies.roles[g.role].reaches(ref)
        )
    ]
    expires = _longest(reaching)
    return AccessDecision(True, expires, "grant") if expires else DENY
