"""Reads of requests and their reviewers. Writes live in `services/`."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from policies_app.engine import PolicySet, Subject
from policies_app.models import ReviewerProfile
from policies_app.selectors import subject_for
from requests_app.models import AccessRequest, review_open_at
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm


def request_pending_for(request: AccessRequest, now: datetime | None = None) -> float:
    """`request.pending_for`: seconds since the request was made, until `now` while it is
    pending, until its resolution after."""
    end = request.resolved_at or now or timezone.now()
    return max(0.0, (end - request.created).total_seconds()) if request.created else 0.0


def request_context(request: AccessRequest, *, now: datetime | None = None) -> dict:
    """The `request.*` variables of predicates for this request (`pending_for` at `now`)."""
    return {
        "roles": list(request.roles),
        "reason": request.reason,
        "annotations": dict(request.annotations or {}),
        "pending_for": request_pending_for(request, now),
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


ReviewWindow = tuple[datetime | None, datetime | None]


def review_window(
    subject: Subject, request: AccessRequest, now: datetime | None = None
) -> ReviewWindow | None:
    """When `subject`'s standing roles allow reviewing `request`, from `now` until its pending
    time runs out, as (opens, closes): opens None when they allow it now, closes None when
    it stays allowed; None when they never allow it in that time. A time-dependent `where`
    (`request.pending_for > duration("2h")`) is what moves them.

    Exact, not sampled at intervals: `pending_for` is only compared with constants, so the
    answer can only change at those constants (`Subject.review_time_bounds`); it is
    evaluated at `now`, at each constant ahead and just past it. Only the first window
    counts (a rule that allows, refuses, then allows again is found again by the resync).
    """
    now = now or timezone.now()
    review_roles = request.policy.get("review_roles", {})
    ctx = request_context(request, now=now)
    waited = ctx["pending_for"]
    points = [waited]
    if request.created is not None:
        lifetime = (request.expires - request.created).total_seconds()
        points += [
            at
            for bound in subject.review_time_bounds
            for at in (bound, bound + 0.5)  # bounds are whole seconds
            if waited < at < lifetime
        ]
    opens: float | None = None
    for at in points:
        allowed = subject.may_review(review_roles, {**ctx, "pending_for": at})
        if opens is None and allowed:
            opens = at
        elif opens is not None and not allowed:
            return _moment(request, opens, waited), request.created + timedelta(seconds=at)
    return None if opens is None else (_moment(request, opens, waited), None)


def _moment(request: AccessRequest, at: float, waited: float) -> datetime | None:
    return None if at == waited else request.created + timedelta(seconds=at)


def eligible_profile_windows(
    request: AccessRequest,
    policies: PolicySet | None = None,
    *,
    profiles: list[ReviewerProfile] | None = None,
    now: datetime | None = None,
) -> dict[int, ReviewWindow]:
    """Group id -> `review_window` of each reviewer profile (all, or `profiles`) that may
    review `request` now or later in its pending time: the policy half of `may_review`,
    evaluated once per profile instead of once per user. A profile holding none of the roles
    that may allow reviewing a requested role (`PolicySet.reviewing_roles`) is skipped
    unasked: it can review no item, whatever the `where` (a company's ~200 profiles, of
    which a request's reviewers are a few; bench/README.md)."""
    policies = policies or PolicySet.load()
    if profiles is None:
        profiles = list(ReviewerProfile.objects.all())
    review_roles = request.policy.get("review_roles", {})
    reviewing = policies.reviewing_roles(role for roles in review_roles.values() for role in roles)
    out: dict[int, ReviewWindow] = {}
    for p in profiles:
        if reviewing.isdisjoint(p.roles):
            continue
        window = review_window(policies.subject(p.roles, p.traits), request, now)
        if window is not None:
            out[p.group_id] = window
    return dict(sorted(out.items()))


def eligible_profile_group_ids(
    request: AccessRequest,
    policies: PolicySet | None = None,
    *,
    profiles: list[ReviewerProfile] | None = None,
) -> list[int]:
    """Group ids of the reviewer profiles (all, or `profiles`) whose standing roles and
    traits allow reviewing every item of `request` now."""
    windows = eligible_profile_windows(request, policies, profiles=profiles)
    return [group for group, (opens, _) in windows.items() if opens is None]


def eligible_reviewers(request: AccessRequest, policies: PolicySet | None = None) -> QuerySet:
    """Users `may_review` lets review `request` (its batch form): active members of the
    request's eligible profile groups, never its owner. A saved PENDING request reads its
    guardian review rows, within their review window now; a resolved one has none left
    (`visibility.request_review_rows_end`), so who could review it is read from its profile
    groups' view rows, which stay and carry the same windows, within their window at its
    resolution: the moment its `request.pending_for` stops (`request_pending_for`), so the
    answer is `may_review`'s and no longer moves with the clock (a break-glass use, resolved
    when opened, never names a profile whose window opens later: `reviewer_refusal` would
    refuse its members). An unsaved one (a create's dry run, the portal's preview) has no
    rows yet, so its eligible profiles are evaluated here, as the create will write them."""
    if request._state.adding:
        groups = eligible_profile_group_ids(request, policies)
    else:
        pending = request.state == RequestState.PENDING
        groups = (
            GroupPerm.objects.filter(
                content_object_id=request.pk,
                permission__codename="review_accessrequest" if pending else "view_accessrequest",
            )
            .filter(review_open_at(timezone.now() if pending else _resolution(request)))
            .values("group_id")
        )
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__in=groups)
        .exclude(pk=request.user_id)
        .distinct()
    )


def _resolution(request: AccessRequest) -> datetime:
    """When a request that left PENDING did (now, for a row that does not say)."""
    return request.resolved_at or timezone.now()


def eligible_reviewer_ids(request: AccessRequest, policies: PolicySet | None = None) -> list[int]:
    """`eligible_reviewers`' ids, sorted (the admin's and the portal's "who can review")."""
    return sorted(eligible_reviewers(request, policies).values_list("pk", flat=True))


def requests_needing_review(user) -> QuerySet[AccessRequest]:
    """PENDING, unexpired requests `user` may review and has not reviewed, oldest first.

    Two queries, so that the cost follows the reviewer's own queue. The first starts from
    the reviewer's review rows (they exist only on requests still pending or awaiting
    ratification: `services.visibility.request_review_rows_end`) and reads each candidate's
    state and pending time, judged here by `is_pending_at`, the in-memory twin of
    `pending_at`; the second reads those requests by primary key. Any filter on the state
    in SQL lets the planner start from the company's pending requests instead (the partial
    index `request_pending_expires`) and probe the reviewer's rows for each: a cost
    following the company's pending count (bench/README.md, "`needs_review`"). The review
    service re-checks policy.
    """
    if not user.is_active or user.is_anonymous:
        return AccessRequest.objects.none()
    now = timezone.now()
    candidates = (
        AccessRequest.objects.reviewable_by(user)
        .exclude(user=user)
        .exclude(reviews__reviewer=user)
        .only("state", "expires")
    )
    queue = [request.pk for request in candidates if request.is_pending_at(now)]
    return AccessRequest.objects.filter(pk__in=queue).order_by("created")
