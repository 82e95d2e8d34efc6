"""Reviewer profiles: users grouped by what decides whether they may review.

Eligibility to review is a function of a user's *standing* role names and traits only
(ARCHITECTURE invariant 4), so every active user whose standing roles review anything
belongs to exactly one profile, an auth Group per distinct (roles, traits). Requests carry
django-guardian group permissions per eligible profile (requests_app.services.visibility):
the rows written per request grow with the number of distinct profiles, not of reviewers.

Callers run `reviewer_profiles_sync` in their own transaction after they change standing
roles, traits, a role's spec or an account's active flag, then recompute the rows of
pending requests for the profiles it reports as new (before their audit append: the chain
head is taken last).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from policies_app.engine import PolicySet
from policies_app.models import ReviewerProfile, Role, UserTraits

GROUP_PREFIX = "reviewers: "


def profile_key(roles: Iterable[str], traits: Mapping[str, list[str]]) -> str:
    """sha256 of the canonical JSON of (sorted role names, traits)."""
    text = json.dumps(
        {"roles": sorted(set(roles)), "traits": dict(traits or {})},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(text.encode()).hexdigest()


def profile_group_name(roles: list[str], key: str) -> str:
    joined = "+".join(roles)
    if len(joined) > 120:
        joined = joined[:117] + "..."
    return f"{GROUP_PREFIX}{joined} #{key[:10]}"


@dataclass
class ProfileSync:
    """What one sync changed: profiles created (their request rows are yet to be computed),
    profiles deleted (their rows went with their group), users moved."""

    created: list[int] = field(default_factory=list)
    deleted: int = 0
    moved: int = 0


def _wanted_profiles(user_ids: set[int] | None, policies: PolicySet) -> dict[int, tuple]:
    """{user id: (roles, traits, key)} for the users in scope who belong to a profile."""
    membership = Role.members.through.objects.filter(user__is_active=True)
    traits_rows = UserTraits.objects.all()
    if user_ids is not None:
        membership = membership.filter(user_id__in=user_ids)
        traits_rows = traits_rows.filter(user_id__in=user_ids)
    roles_by_user: dict[int, list[str]] = defaultdict(list)
    for uid, name in membership.values_list("user_id", "role__name"):
        roles_by_user[uid].append(name)
    traits = dict(traits_rows.values_list("user_id", "traits"))
    wanted = {}
    for uid in roles_by_user:
        roles = sorted(set(roles_by_user[uid]))
        user_traits = traits.get(uid) or {}
        if policies.subject(roles, user_traits).reviews_anything:
            wanted[uid] = (roles, user_traits, profile_key(roles, user_traits))
    return wanted


def reviewer_profiles_sync(
    *, user_ids: Iterable[int] | None = None, policies: PolicySet | None = None
) -> ProfileSync:
    """Put each user (all, or those given) in the one profile group their standing roles and
    traits call for, or in none (inactive, or reviewing nothing); delete emptied profiles.

    Runs inside the caller's transaction. Returns the ids of the profiles it created: their
    request permissions must be computed (`request_permissions_resync(profile_ids=...)`).
    """
    policies = policies or PolicySet.load()
    scope = None if user_ids is None else set(user_ids)
    wanted = _wanted_profiles(scope, policies)
    result = ProfileSync()
    distinct = {key: (roles, traits) for roles, traits, key in wanted.values()}
    profiles = {p.key: p for p in ReviewerProfile.objects.filter(key__in=list(distinct))}
    for key, (roles, traits) in distinct.items():
        if key not in profiles:
            group = Group.objects.create(name=profile_group_name(roles, key))
            profiles[key] = ReviewerProfile.objects.create(
                group=group, key=key, roles=roles, traits=traits
            )
            result.created.append(profiles[key].pk)
    Through = get_user_model().groups.through
    current = Through.objects.filter(group__reviewer_profile__isnull=False)
    if scope is not None:
        current = current.filter(user_id__in=scope)
    have = {(uid, gid): pk for pk, uid, gid in current.values_list("pk", "user_id", "group_id")}
    want = {(uid, profiles[w[2]].group_id) for uid, w in wanted.items()}
    stale = [pk for pair, pk in have.items() if pair not in want]
    if stale:
        Through.objects.filter(pk__in=stale).delete()
    added = [Through(user_id=uid, group_id=gid) for uid, gid in want - have.keys()]
    Through.objects.bulk_create(added, ignore_conflicts=True)
    result.moved = len(stale) + len(added)
    empty = Group.objects.filter(reviewer_profile__isnull=False, user__isnull=True)
    result.deleted = ReviewerProfile.objects.filter(group__in=empty).count()
    if result.deleted:
        # Group rows on requests cascade with the group.
        Group.objects.filter(pk__in=list(empty.values_list("pk", flat=True))).delete()
    return result
