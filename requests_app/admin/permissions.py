"""The request's "who may see and review this" page: its object permissions, explained.

Only reads. The rows are a projection of policy (services/visibility.py), so the page shows
them and why they exist; nobody edits them by hand. Model-level holders (auditors and the
like) and superusers see every request without a row; they are listed too.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from guardian.shortcuts import get_groups_with_perms, get_users_with_perms

from policies_app.engine import PolicySet
from policies_app.models import ReviewerProfile, Role
from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.querysets import SEE_ALL_PERMISSIONS
from requests_app.selectors import request_context


def _review_rules(profile: ReviewerProfile, request: AccessRequest, policies: PolicySet, at=None):
    """The profile's roles whose review rule allows one of the request's items (`at` a
    moment, default now: the opening of a `request.pending_for` rule's window)."""
    subject = policies.subject(profile.roles, profile.traits)
    ctx = subject.review_context(request_context(request, now=at))
    names = {role for roles in request.policy.get("review_roles", {}).values() for role in roles}
    return sorted(
        r.name for r in subject.standing if any(r.allows_reviewing(n, ctx) for n in names)
    )


def _model_level_holders() -> list[dict]:
    """Superusers, and holders of a see-all permission through a standing role."""
    User = get_user_model()
    codenames = [p.split(".", 1)[1] for p in SEE_ALL_PERMISSIONS]
    out = [
        {"user": u, "why": "superuser"}
        for u in User.objects.filter(is_superuser=True, is_active=True).order_by("username")
    ]
    for role in Role.objects.prefetch_related("members").order_by("name"):
        held = [
            p for p in role.spec.get("allow", {}).get("permissions", []) if p in SEE_ALL_PERMISSIONS
        ]
        for member in role.members.all():
            if member.is_active and held:
                out.append({"user": member, "why": f"role {role.name}: {', '.join(held)}"})
    direct = Permission.objects.filter(
        content_type__app_label="requests_app", codename__in=codenames
    )
    for u in User.objects.filter(
        Q(user_permissions__in=direct) | Q(groups__permissions__in=direct), is_active=True
    ).distinct():
        out.append({"user": u, "why": "Django user or group permission"})
    return out


def object_permissions_context(request: AccessRequest) -> dict:
    """Everything the page lists: guardian's user rows (requester, past reviewers), group
    rows (reviewer profiles with their roles, traits, members, review window and the rule
    that allowed them) and model-level holders."""
    policies = PolicySet.load()
    reviewed = set(request.reviews.values_list("reviewer_id", flat=True))
    users = []
    for user, perms in get_users_with_perms(
        request, attach_perms=True, with_superusers=False, with_group_users=False
    ).items():
        why = (
            "requester"
            if user.pk == request.user_id
            else ("reviewed it" if user.pk in reviewed else "direct row")
        )
        users.append({"user": user, "perms": sorted(perms), "why": why})
    groups = []
    profiles = {p.group_id: p for p in ReviewerProfile.objects.all()}
    windows = {
        group_id: (opens, closes)
        # Read from the view rows: they carry the same window and stay after the request
        # leaves PENDING, when its review rows end (services.visibility).
        for group_id, opens, closes in GroupPerm.objects.filter(
            content_object=request, permission__codename="view_accessrequest"
        ).values_list("group_id", "review_opens", "review_closes")
    }
    for group, perms in get_groups_with_perms(request, attach_perms=True).items():
        profile = profiles.get(group.pk)
        opens, closes = windows.get(group.pk, (None, None))
        groups.append(
            {
                "group": group,
                "perms": sorted(perms),
                "profile": profile,
                "members": group.user_set.filter(is_active=True)
                .exclude(pk=request.user_id)
                .count(),
                # Its review window (a `request.pending_for` rule): why, as of its opening.
                "opens": opens,
                "closes": closes,
                "rules": _review_rules(profile, request, policies, opens) if profile else [],
            }
        )
    return {"user_rows": users, "group_rows": groups, "model_level": _model_level_holders()}
