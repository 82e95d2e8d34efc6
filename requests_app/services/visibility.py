"""Object permissions on requests (django-guardian rows), kept in sync with policies.

Reviewers are reached through their reviewer profile (policies_app.services.profiles): each
PENDING request holds guardian *group* permissions (view and review) for every profile whose
standing roles and traits allow reviewing it, so the rows written per request grow with the
number of distinct profiles, never with the number of reviewers. *User* rows remain for the
requester (view) and for everyone who reviewed (view, written with the review, kept after
resolution). The rows are a projection: review itself always re-checks policy
(`services.reviews.request_get_for_review`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from guardian.shortcuts import assign_perm

from accessportal.kernel.choices import RequestState
from accessportal.kernel.locking import retry_on_conflict
from policies_app.engine import PolicySet
from policies_app.models import ReviewerProfile
from policies_app.services.profiles import reviewer_profiles_sync
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.selectors import ReviewWindow, eligible_profile_windows
from requests_app.services.permission_rows import (
    REVIEW,
    VIEW,
    group_rows_insert,
    user_view_row_add,
)
from requests_app.services.provisioning import provisioning_sync


def _set_group_rows(
    request: AccessRequest, wanted: dict[int, ReviewWindow], scope: set[int] | None
) -> None:
    """Make the profile groups holding view+review on `request` be `wanted` (within `scope`
    of group ids, or all), each with its review window: stale rows removed, missing ones
    assigned in bulk. Written only while the rows follow policy, checked under the
    request's lock (`_rows_follow_policy`)."""
    existing = GroupPerm.objects.filter(content_object=request)
    if scope is not None:
        existing = existing.filter(group_id__in=scope)
    have = {
        group: (opens, closes)
        for group, opens, closes in existing.values_list(
            "group_id", "review_opens", "review_closes"
        )
    }
    stale = set(have) - set(wanted)
    missing_ids = set(wanted) - set(have)
    # Only profiles whose rule depends on `request.pending_for` carry a window: one UPDATE
    # per distinct window, none at all for requests without such rules.
    moved: dict[ReviewWindow, list[int]] = {}
    for group_id, window in wanted.items():
        if have.get(group_id, (None, None)) != window:
            moved.setdefault(window, []).append(group_id)
    # Nothing to write, nothing locked: a resync leaves unchanged requests alone.
    if not (stale or missing_ids or moved) or not _rows_follow_policy(request):
        return
    if stale:
        existing.filter(group_id__in=stale).delete()
    missing = list(Group.objects.filter(pk__in=missing_ids))
    if missing:
        # One INSERT per permission for every missing group (guardian's bulk form).
        assign_perm(VIEW, missing, request)
        assign_perm(REVIEW, missing, request)
    for (opens, closes), group_ids in moved.items():
        GroupPerm.objects.filter(content_object=request, group_id__in=group_ids).update(
            review_opens=opens, review_closes=closes
        )


def _rows_follow_policy(request: AccessRequest) -> bool:
    """Lock `request` (first, as every writer does: `services.locking`) and tell whether its
    group rows still follow policy: it is PENDING, or a break-glass use awaiting
    ratification. A caller that read the request earlier (the resync iterates without
    locks) may hold a state that an approval has changed since: an exit from PENDING holds
    this lock while it ends the review rows (`services.transitions`), so a write here either
    waits for it and sees the new state, or commits first and has its rows ended by it.
    Never review rows on a finished request."""
    state = (
        AccessRequest.objects.select_for_update(of=("self",), no_key=True)
        .filter(pk=request.pk)
        .values_list("state", flat=True)
        .first()
    )
    if state == RequestState.PENDING:
        return True
    return (
        state is not None
        and BreakGlass.objects.filter(request_id=request.pk, state=Ratification.AWAITING).exists()
    )


def request_permissions_sync(
    request: AccessRequest,
    *,
    policies: PolicySet | None = None,
    profiles: list[ReviewerProfile] | None = None,
) -> list[int]:
    """Make the group rows of one PENDING request match policy (for `profiles`, default
    all); returns the group ids of the profiles that may review it now.

    A profile whose review rule holds only for part of the request's pending time
    (`request.pending_for`) gets its rows now, with its window (`review_opens`,
    `review_closes`): its members see the request at once, work queues and reminders
    list it within the window, and the review service decides at review time. A newly
    created request also gets the requester's view row. Rows of resolved requests are
    left as they were (whoever reviewed keeps their own view row), but for those of
    windows that never opened (`request_review_rows_end` with `resolved_at`): nothing is
    written once the request left PENDING (or its break-glass use was judged), which is
    checked under the request's lock however old the caller's copy (`_rows_follow_policy`).
    """
    wanted = eligible_profile_windows(request, policies, profiles=profiles)
    scope = None if profiles is None else {p.group_id for p in profiles}
    _set_group_rows(request, wanted, scope)
    return sorted(group for group, (opens, _) in wanted.items() if opens is None)


def request_permissions_create(request: AccessRequest, *, policies: PolicySet) -> list[int]:
    """Rows of a request just created: the requester views it, eligible profiles view and
    review it (each with its review window, as `request_permissions_sync` would give it).
    Returns the eligible profiles' group ids. A new request has no rows yet: two INSERTs,
    nothing read (`permission_rows`)."""
    user_view_row_add(request, request.user_id)
    wanted = eligible_profile_windows(request, policies)
    group_rows_insert(request, wanted)
    return sorted(group for group, (opens, _) in wanted.items() if opens is None)


def request_review_rows_end(
    request_ids: Iterable[object], *, resolved_at: datetime | None = None, verdict: bool = False
) -> int:
    """When requests leave PENDING (every exit: `services.transitions`): their profiles'
    review rows go, in one DELETE, so review rows exist only on requests someone may still
    review and the review queue (`AccessRequestQuerySet.reviewable_by`) starts from the
    reviewer's own rows, whatever the company's pending count or the reviewer's history.
    View rows stay (resolved requests stay visible to whoever could review them: who that
    was is read from them, `selectors.eligible_reviewers`), but for a request resolved at
    `resolved_at` (`services.resolution`): the profiles whose review window had not opened
    by then (a `request.pending_for` rule) lose their view rows too, in the same DELETE,
    as they never could review it. A break-glass use keeps all its rows while it awaits
    ratification by the same reviewers; with `verdict` (its ratification or rejection is
    recorded: `services.break_glass.break_glass_decide`) its review rows go too."""
    ending = Q(permission__codename=REVIEW)
    if resolved_at is not None:
        ending |= Q(review_opens__gt=resolved_at)
    rows = GroupPerm.objects.filter(content_object_id__in=list(request_ids)).filter(ending)
    if not verdict:
        rows = rows.exclude(content_object__policy__has_key="break_glass")
    deleted, _ = rows.delete()
    return deleted


def review_rows_stale_end() -> int:
    """The backstop of `request_review_rows_end` (`reviewer_permissions_rebuild`): remove
    every review row on a request that is neither PENDING nor a break-glass use awaiting
    ratification, whatever left it there (a write outside the services, a release that
    predates the rule). Neither state comes back once left (`services.transitions`,
    `Ratification`), so such rows are stale for good and need no lock. One DELETE."""
    awaiting = BreakGlass.objects.filter(state=Ratification.AWAITING).values("request_id")
    deleted, _ = (
        GroupPerm.objects.filter(permission__codename=REVIEW)
        .exclude(content_object__state=RequestState.PENDING)
        .exclude(content_object_id__in=awaiting)
        .delete()
    )
    return deleted


def reviewer_keeps_view(request: AccessRequest, reviewer) -> None:
    """A reviewer keeps seeing what they reviewed, whatever their profile becomes."""
    user_view_row_add(request, reviewer.pk)


@retry_on_conflict
@transaction.atomic
def request_permissions_resync(
    *,
    request_ids: Iterable[object] | None = None,
    profile_ids: Iterable[int] | None = None,
) -> int:
    """Recompute the group rows of PENDING requests and break-glass uses awaiting
    ratification (all, or those given) for every profile (or those given), e.g. after a
    policy change or new profiles. Evaluates policy once per
    profile and request, never per user."""
    policies = PolicySet.load()
    profiles = list(ReviewerProfile.objects.all())
    if profile_ids is not None:
        wanted = set(profile_ids)
        profiles = [p for p in profiles if p.pk in wanted]
        if not profiles:
            return 0
    # Break-glass uses awaiting ratification are judged by the same reviewers, so their rows
    # follow policy too (few: at most one per user).
    awaiting = BreakGlass.objects.filter(state=Ratification.AWAITING).values("request_id")
    queryset = AccessRequest.objects.filter(Q(state=RequestState.PENDING) | Q(pk__in=awaiting))
    if request_ids is not None:
        queryset = queryset.filter(pk__in=list(request_ids))
    count = 0
    for request in queryset.iterator(chunk_size=500):
        request_permissions_sync(request, policies=policies, profiles=profiles)
        count += 1
    return count


def on_review_rules_changed(sender, user_ids: Iterable[int] | None = None, **kwargs) -> None:
    """Receiver of `policies_app.signals.review_rules_changed`. With `user_ids` (a sign-in,
    a directory push): those users' reviewer profiles, and the rows of any profile that
    appears. Without (a policy apply or role delete, which synced the profiles itself): the
    rows of every pending request."""
    if user_ids is None:
        request_permissions_resync()
    else:
        accounts_profiles_sync(user_ids=user_ids)


def accounts_profiles_sync(*, user_ids: Iterable[int]) -> None:
    """After an account change outside policy files (the active flag, a hand-edited group
    list, standing roles from an identity provider): put the users back in the reviewer
    profile their roles call for, or none when inactive, and give any profile that appears
    its rows on pending requests; and their provisioning assignments follow. Runs in the
    caller's transaction, before its audit append."""
    user_ids = list(user_ids)
    created = reviewer_profiles_sync(user_ids=user_ids).created
    if created:
        request_permissions_resync(profile_ids=created)
    provisioning_sync(user_ids)


@retry_on_conflict
@transaction.atomic
def reviewer_permissions_rebuild() -> int:
    """The periodic backstop: every user's reviewer profile, then the rows of every PENDING
    request, recomputed (e.g. after a membership written outside the services), and the
    review rows of finished requests removed (`review_rows_stale_end`)."""
    reviewer_profiles_sync()
    review_rows_stale_end()
    return request_permissions_resync()
