"""Whether a user has a role or reaches a resource at an instant.

Answers from standing roles and from grants whose window contains the instant, so access
ends at its expiry even if no worker ever runs (invariant 5). A hot path for integrations:
a role check is one query, a resource check two, whatever the size of the grant table
(indexes `grant_user_role_expires` and `grant_user_resource_expires`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from policies_app.documents import parse_resource_id
from policies_app.engine import ResourceRef, RolePolicy
from policies_app.models import Resource, Role
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


def _latest_expiry(grants) -> Subquery:
    """The latest `expires` among `grants`, as a scalar subquery (NULL when none)."""
    return Subquery(grants.order_by("-expires").values("expires")[:1])


def _role_decision(user_id: int, role: str, at: datetime) -> AccessDecision:
    # One query: the user's row with "holds it standing" and "granted until" beside it.
    standing = Role.members.through.objects.filter(user_id=user_id, role__name=role)
    row = (
        get_user_model()
        .objects.filter(pk=user_id)
        .annotate(
            _standing=Exists(standing),
            _until=_latest_expiry(active_grants(user_id, at).filter(role=role)),
        )
        .values_list("_standing", "_until")
    )[:1]
    standing_held, until = next(iter(row), (False, None))
    if standing_held:
        return AccessDecision(True, None, "standing")
    return AccessDecision(True, until, "grant") if until else DENY


def _resource_decision(user_id: int, resource: str, at: datetime) -> AccessDecision:
    kind, _, name = resource.partition("/")
    grants = active_grants(user_id, at)
    # Query 1: the resource, with the latest grant of it by name.
    row = (
        Resource.objects.filter(kind=kind, name=name)
        .annotate(_until=_latest_expiry(grants.filter(resource=resource)))
        .values_list("labels", "_until")
    )[:1]
    found = next(iter(row), None)
    if found is None:
        return DENY
    labels, direct_until = found
    ref = ResourceRef(kind, name, labels or {})
    # Query 2: the roles that could reach it: standing ones and those granted now, each with
    # the latest grant of it. Only these roles' policies are read, never the whole set.
    member = Role.members.through.objects.filter(user_id=user_id, role_id=OuterRef("pk"))
    granted = grants.exclude(role="")
    roles = (
        Role.objects.filter(Q(Exists(member)) | Q(name__in=granted.values("role")))
        .annotate(
            _standing=Exists(member),
            _until=_latest_expiry(granted.filter(role=OuterRef("name"))),
        )
        .values_list("name", "spec", "_standing", "_until")
    )
    reaching = [
        (standing_held, until)
        for role_name, spec, standing_held, until in roles
        if RolePolicy(role_name, spec).reaches(ref)
    ]
    if any(standing_held for standing_held, _ in reaching):
        return AccessDecision(True, None, "standing")
    expires = max(
        [u for _, u in reaching if u] + ([direct_until] if direct_until else []), default=None
    )
    return AccessDecision(True, expires, "grant") if expires else DENY


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
    if role:
        return _role_decision(user.pk, role, at)
    if parse_resource_id(resource) is None:
        raise ValidationFailed(f"{resource!r} is not a resource id (kind/name)", field="resource")
    return _resource_decision(user.pk, resource, at)
