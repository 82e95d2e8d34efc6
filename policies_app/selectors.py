"""Reads of policy data: a user's standing roles, traits and their policy subject."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import CharField, Exists, JSONField, OuterRef, Q, QuerySet, Value

from accessportal.kernel.usernames import SYSTEM_USERNAMES
from policies_app.engine import PolicySet, ResourceRef, Subject
from policies_app.models import (
    POLICY_SOURCE,
    MembershipHold,
    Resource,
    Role,
    RoleMembership,
    UserTraits,
)


def standing_roles(user: AbstractBaseUser):
    """The roles `user` holds standing (a membership, whatever gives it), never a granted
    one: the one query every reader of standing roles builds on."""
    return Role.objects.filter(members=user).order_by()


def standing_role_names(user: AbstractBaseUser) -> list[str]:
    return sorted(standing_roles(user).values_list("name", flat=True))


def spec_permissions(spec: dict | None) -> list[str]:
    """The Django permissions a role spec gives its holders (`spec.allow.permissions`)."""
    return list(((spec or {}).get("allow") or {}).get("permissions") or [])


def standing_role_permissions(user: AbstractBaseUser) -> set[str]:
    """The permissions of `user`'s standing roles only: memberships from the policy (files,
    the admin) or an identity provider (SSO claims, SCIM). Never a superuser flag, a
    direct or group permission, nor a role granted by a request; inactive: none."""
    if not user.is_active or user.is_anonymous:
        return set()
    specs = Role.objects.filter(memberships__user=user).values_list("spec", flat=True)
    return {perm for spec in specs for perm in spec_permissions(spec)}


def role_sources(user: AbstractBaseUser) -> dict[str, list[str]]:
    """The user's standing roles, each with what gives it ("policy", "sso:okta", ...)."""
    rows = RoleMembership.objects.filter(user=user).values_list("role__name", "sources")
    return {name: sorted(sources) for name, sources in sorted(rows)}


def roles_from(user: AbstractBaseUser, source: str) -> set[str]:
    """The user's standing roles that `source` gives (whatever else gives them too)."""
    return {name for name, sources in role_sources(user).items() if source in sources}


def policy_roles_named(user: AbstractBaseUser) -> set[str]:
    """The roles the policy files name for `user`, as stored: those the policy gives, and
    those an access review removed and holds away (MembershipHold). A user document built
    from the database (an admin edit, an export) names both, so applying it keeps the hold
    (drift) instead of ending it."""
    held = MembershipHold.objects.filter(user=user).values_list("role__name", flat=True)
    return roles_from(user, POLICY_SOURCE) | set(held)


def members_from(role: Role, source: str) -> list[int]:
    """Ids of the users holding `role` through `source`."""
    rows = RoleMembership.objects.filter(role=role).values_list("user_id", "sources")
    return sorted(uid for uid, sources in rows if source in sources)


def oncall_email(user: AbstractBaseUser) -> str:
    """The email an on-call source (PagerDuty, Opsgenie) may name `user` by: theirs, only
    when no other active account holds the same address (case-insensitive); else "". An
    email copied from an identity provider's claims is not proof of owning it, so a shared
    or copied address never makes anyone on call."""
    email = (getattr(user, "email", "") or "").strip()
    if not email:
        return ""
    holders = get_user_model().objects.filter(is_active=True, email__iexact=email)
    return email if list(holders.values_list("pk", flat=True)[:2]) == [user.pk] else ""


def user_traits(user: AbstractBaseUser) -> dict[str, list[str]]:
    row = UserTraits.objects.filter(user=user).values_list("traits", flat=True).first()
    return dict(row or {})


def subject_for(user: AbstractBaseUser, policies: PolicySet | None = None) -> Subject:
    """The policy view of `user`: their standing roles (never granted ones) and traits,
    read in one statement (`standing_role_names` and `user_traits` together)."""
    policies = policies or PolicySet.load()
    roles = standing_roles(user).values_list("name", Value(None, output_field=JSONField()))
    # One traits row at most (one-to-one); a role name is never null.
    traits = UserTraits.objects.filter(user=user).values_list(
        Value(None, output_field=CharField()), "traits"
    )
    names, found = [], {}
    for name, value in roles.union(traits, all=True):
        if name is None:
            found = json.loads(value) if isinstance(value, str) else value
        else:
            names.append(name)
    return policies.subject(names, found or {})


def policies_and_subject(user: AbstractBaseUser) -> tuple[PolicySet, Subject]:
    """`PolicySet.load()` and `subject_for(user, ...)` with one statement on PostgreSQL: the
    roles' version, the user's standing roles and their traits, read together (the write
    paths' first read). Elsewhere the two reads, as they are."""
    version_sql = PolicySet.version_sql()
    if version_sql is None:
        policies = PolicySet.load()
        return policies, subject_for(user, policies)
    qn = connection.ops.quote_name
    roles_sql, roles_params = standing_roles(user).values("name").query.sql_with_params()
    sql = (
        f"SELECT 0, r.{qn('name')} FROM ({roles_sql}) r"
        f" UNION ALL SELECT 1, t.{qn('traits')}::text FROM {qn(UserTraits._meta.db_table)} t"
        f" WHERE t.{qn('user_id')} = %s"
        f" UNION ALL SELECT 2, ({version_sql})"
    )
    names, traits, version = [], {}, None
    with connection.cursor() as cursor:
        cursor.execute(sql, [*roles_params, user.pk])
        for kind, value in cursor.fetchall():
            if kind == 0:
                names.append(value)
            elif kind == 1:
                traits = json.loads(value) or {}
            else:
                version = value
    policies = PolicySet.load(version=version)
    return policies, policies.subject(names, traits)


def resource_ref(resource: Resource) -> ResourceRef:
    return ResourceRef(resource.kind, resource.name, resource.labels or {})


def resources_by_id(ids: list[str]) -> dict[str, Resource]:
    """Resources for `kind/name` ids, in one query; unknown ids are simply absent."""
    from django.db.models import Q

    query = Q(pk__in=[])
    for rid in ids:
        kind, _, name = rid.partition("/")
        query |= Q(kind=kind, name=name)
    return {r.resource_id: r for r in Resource.objects.filter(query)}


def resources_requestable_by(
    user: AbstractBaseUser, resources: Iterable[Resource] | None = None
) -> list[Resource]:
    """The resources (of `resources`, default all) that `user` may request: those reached by
    one of their search-as roles. Label selectors are globs and regexes, so the match runs
    in memory over one query's rows."""
    roles = subject_for(user).search_as_roles
    if not roles:
        return []
    rows = Resource.objects.all() if resources is None else resources
    return [r for r in rows if any(role.reaches(resource_ref(r)) for role in roles)]


def accounts_adoptable_by(provider: str) -> Q:
    """The one rule for an identity provider taking over an existing local account, by a
    first sign-in (linking) or by SCIM (adopting): an active account made from the policy
    files (no usable password), neither staff nor superuser, that no other provider manages
    (no SCIM link but this provider's, not deleted; no sign-in link to another provider).
    Anything else stays with its owner and the admin: one provider can never take over the
    accounts of another, an admin's, or one an admin deactivated."""
    from allauth.socialaccount.models import SocialAccount
    from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX

    other_sign_in = SocialAccount.objects.filter(user=OuterRef("pk")).exclude(provider=provider)
    unlinked_or_own = Q(directory_link__isnull=True) | Q(
        directory_link__provider=provider, directory_link__deleted=None
    )
    return (
        Q(is_active=True, is_staff=False, is_superuser=False)
        & ~Q(username__in=SYSTEM_USERNAMES)  # never a system identity (kernel.usernames)
        & Q(password__startswith=UNUSABLE_PASSWORD_PREFIX)
        & unlinked_or_own
        & ~Q(Exists(other_sign_in))
    )


def directory_users_visible(provider: str) -> QuerySet:
    """Accounts `provider` may read and manage over SCIM: those it links (and has not
    deleted), active or not, and those it may adopt (`accounts_adoptable_by`: Okta's import
    matches existing accounts by userName). Never a superuser, never an account another
    provider manages, never a staff or password account, never one an admin deactivated."""
    own = Q(directory_link__provider=provider, directory_link__deleted=None)
    return (
        get_user_model()
        .objects.filter(is_superuser=False)
        .filter(own | accounts_adoptable_by(provider))
    )
