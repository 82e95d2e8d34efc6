"""Reads of requests and their reviewers. Writes live in `services/`."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from policies_app.engine import PolicySet
from policies_app.matching import matches_any
from policies_app.models import Role, UserTraits
from requests_app.choices import RequestState
from requests_app.models import AccessRequest


def request_context(request: AccessRequest) -> dict:
    """The `request.*` variables of predicates for this request."""
    return {
        "roles": list(request.roles),
        "reason": request.reason,
        "annotations": dict(request.annotations or {}),
    }


def eligible_reviewer_ids(request: AccessRequest, policies: PolicySet | None = None) -> list[int]:
    """Users whose standing roles allow reviewing every item of `request` (never its owner).

    Evaluated in memory over the members of the roles whose review rules name a role behind
    the request (nobody else can pass `may_review`): a handful of queries whatever the
    number of reviewers in the company.
    """
    policies = policies or PolicySet.load()
    review_roles = request.policy.get("review_roles", {})
    # Only members of a role whose review rule names one of the roles behind the request
    # can pass `may_review`: the others are not even loaded.
    wanted = {role for roles in review_roles.values() for role in roles}
    reviewing_roles = [
        name
        for name, role in policies.roles.items()
        if role.reviews_anything
        and any(
            matches_any(role.spec.get("allow", {}).get("review_requests", {}).get("roles", []), r)
            for r in wanted
        )
    ]
    if not reviewing_roles:
        return []
    membership = Role.members.through.objects.filter(role__name__in=reviewing_roles)
    candidates = {uid for uid in membership.values_list("user_id", flat=True)}
    candidates.discard(request.user_id)
    if not candidates:
        return []
    active = set(
        get_user_model()
        .objects.filter(pk__in=candidates, is_active=True)
        .values_list("pk", flat=True)
    )
    roles_by_user: dict[int, list[str]] = defaultdict(list)
    for uid, name in Role.members.through.objects.filter(user_id__in=active).values_list(
        "user_id", "role__name"
    ):
        roles_by_user[uid].append(name)
    traits = dict(UserTraits.objects.filter(user_id__in=active).values_list("user_id", "traits"))
    ctx = request_context(request)
    return sorted(
        uid
        for uid in active
        if policies.subject(roles_by_user[uid], traits.get(uid) or {}).may_review(review_roles, ctx)
    )


def _perm_rows(user, codename: str):
    """Ids of the requests on which `user` has `codename` (guardian's direct-FK rows).

    The permission's id is a scalar subquery, computed once, so the database probes the
    (user, permission, request) index directly instead of joining permissions per row.
    """
    from django.contrib.auth.models import Permission
    from django.db.models import Subquery

    from requests_app.models import AccessRequestUserObjectPermission

    permission = Permission.objects.filter(
        codename=codename, content_type__app_label="requests_app"
    ).values("pk")[:1]
    return AccessRequestUserObjectPermission.objects.filter(
        user=user, permission=Subquery(permission)
    ).values("content_object_id")


# Model-level permissions that reach every request: auditors see them all; holders of the
# direct-resolution or revoke permissions may act on any request, so they must be able to
# address (and see) any request too.
SEE_ALL_PERMISSIONS = (
    "requests_app.view_accessrequest",
    "requests_app.resolve_accessrequest",
    "requests_app.revoke_grant",
)


def requests_visible_to(user) -> QuerySet[AccessRequest]:
    """Requests `user` may see: their own, those they may review (guardian rows), or all for
    superusers and holders of a SEE_ALL_PERMISSIONS permission (auditors, resolvers)."""
    if not user.is_active or user.is_anonymous:
        return AccessRequest.objects.none()
    if user.is_superuser or any(user.has_perm(perm) for perm in SEE_ALL_PERMISSIONS):
        return AccessRequest.objects.all()
    return AccessRequest.objects.filter(
        Q(user=user) | Q(pk__in=_perm_rows(user, "view_accessrequest"))
    )


def requests_needing_review(user) -> QuerySet[AccessRequest]:
    """PENDING, unexpired requests `user` may review and has not reviewed, oldest first.

    One query over guardian's direct-FK rows; the review service re-checks policy.
    """
    if not user.is_active or user.is_anonymous:
        return AccessRequest.objects.none()
    return (
        AccessRequest.objects.filter(
            state=RequestState.PENDING,
            expires__gt=timezone.now(),
            pk__in=_perm_rows(user, "review_accessrequest"),
        )
        .exclude(user=user)
        .exclude(reviews__reviewer=user)
        .order_by("created")
    )
