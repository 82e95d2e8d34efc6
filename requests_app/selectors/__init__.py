"""Reads of requests and their reviewers. Writes live in `services/`."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from policies_app.engine import PolicySet, Subject
from policies_app.matching import matches_any
from policies_app.models import Role, UserTraits
from policies_app.selectors import subject_for
from requests_app.models import AccessRequest


def request_context(request: AccessRequest) -> dict:
    """The `request.*` variables of predicates for this request."""
    return {
        "roles": list(request.roles),
        "reason": request.reason,
        "annotations": dict(request.annotations or {}),
    }


def _policy_allows_review(subject: Subject, request: AccessRequest) -> bool:
    """The policy half of eligibility: `subject`'s standing roles allow reviewing every item
    of `request` (its snapshot of review roles) and no deny rule matches."""
    return subject.may_review(request.policy.get("review_roles", {}), request_context(request))


def may_review(request: AccessRequest, user, subject: Subject | None = None) -> bool:
    """The one answer to "may `user` review `request`": an active user, never the requester
    (superusers included), whose *standing* roles allow it. `may_revoke`, the review
    service, the admin and the portal all ask this; `eligible_reviewer_ids` is its batch form.
    """
    if user.is_anonymous or not user.is_active or user.pk == request.user_id:
        return False
    return _policy_allows_review(subject or subject_for(user, PolicySet.load()), request)


def reviews_anything(
    user, policies: PolicySet | None = None, *, subject: Subject | None = None
) -> bool:
    """The one answer to "is `user` a reviewer": an active user one of whose standing roles
    may review some role (API `me/` `is_reviewer`, the portal, the admin's queue). `subject`:
    the user's, when the caller already has it."""
    if user.is_anonymous or not user.is_active:
        return False
    return (subject or subject_for(user, policies)).reviews_anything


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
    subjects = {uid: policies.subject(roles_by_user[uid], traits.get(uid) or {}) for uid in active}
    return sorted(
        uid for uid, subject in subjects.items() if _policy_allows_review(subject, request)
    )


def requests_needing_review(user) -> QuerySet[AccessRequest]:
    """PENDING, unexpired requests `user` may review and has not reviewed, oldest first.

    One query over guardian's direct-FK rows; the review service re-checks policy.
    """
    if not user.is_active or user.is_anonymous:
        return AccessRequest.objects.none()
    return (
        AccessRequest.objects.pending_at(timezone.now())
        .reviewable_by(user)
        .exclude(user=user)
        .exclude(reviews__reviewer=user)
        .order_by("created")
    )
