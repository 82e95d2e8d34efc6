"""The time and visibility rules of requests and grants, each written once.

`Grant.objects.open_at(t)`, `AccessRequest.objects.pending_at(t)`, `.access_live_at(t)` and
`.visible_to(user)` are chainable (after NetBox's restricted querysets); the model methods
`Grant.is_open_at`, `AccessRequest.is_pending_at` and `.is_access_live_at` answer the same
rules for one row in memory. The access check and the permission backend are hand-written
SQL (their ORM compilation cost more than the query): they build their statements from
`grant_open_sql` / `grant_unended_sql`, and tests/requests_app/test_querysets.py proves
each fragment selects the same grants as its queryset method.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accessportal.kernel.choices import RequestState

# --- Grants ------------------------------------------------------------------------------
# A grant is open at t when its window [starts, expires) contains t and it was not revoked
# by t. The "not revoked by" instant is t itself except in the chain of approved access,
# which asks whether a grant covering the end of another is still standing now.


def _not_revoked_q(by) -> Q:
    return Q(revoked_at=None) | Q(revoked_at__gt=by)


def grant_open_q(at, *, revoked_by=None) -> Q:
    """The condition of `GrantQuerySet.open_at`, for `exclude()` and annotations."""
    return Q(starts__lte=at, expires__gt=at) & _not_revoked_q(
        at if revoked_by is None else revoked_by
    )


def _not_revoked_sql(by: str, alias: str) -> str:
    return f"({alias}.revoked_at IS NULL OR {alias}.revoked_at > {by})"


def grant_open_sql(at: str = "%s", *, revoked_by: str | None = None, alias: str = "g") -> str:
    """SQL twin of `GrantQuerySet.open_at`: `at` and `revoked_by` are SQL expressions
    (a placeholder or a column), so the fragment takes three placeholders by default."""
    return f"{alias}.starts <= {at} AND {alias}.expires > {at} AND " + _not_revoked_sql(
        revoked_by or at, alias
    )


def grant_unended_sql(at: str = "%s", *, alias: str = "g") -> str:
    """SQL twin of `GrantQuerySet.unended_at`: open at `at` or starting later (two
    placeholders)."""
    return f"{alias}.expires > {at} AND " + _not_revoked_sql(at, alias)


def grant_is_open(starts, expires, revoked_at, at: datetime) -> bool:
    """`open_at` for one grant's values in memory (rows read by hand-written SQL)."""
    return starts <= at < expires and (revoked_at is None or revoked_at > at)


class GrantQuerySet(QuerySet):
    def open_at(self, at, *, revoked_by=None) -> GrantQuerySet:
        """Grants giving access at `at`: window contains it, not revoked by `revoked_by`
        (default `at`). `at` may be an expression (`OuterRef("expires")`)."""
        return self.filter(grant_open_q(at, revoked_by=revoked_by))

    def unended_at(self, at) -> GrantQuerySet:
        """Grants open at `at` or scheduled to open later (not expired, not revoked)."""
        return self.filter(expires__gt=at).filter(_not_revoked_q(at))


# --- Requests ----------------------------------------------------------------------------


def _permission_id(codename: str) -> Subquery:
    """The request permission's id as an uncorrelated scalar subquery, computed once."""
    from django.contrib.auth.models import Permission

    return Subquery(
        Permission.objects.filter(codename=codename, content_type__app_label="requests_app").values(
            "pk"
        )[:1]
    )


def _profile_group(user) -> Subquery:
    """The user's reviewer profile group (one at most: profile groups are the only groups
    with rows on requests) as an uncorrelated scalar subquery, computed once. Joining the
    user's groups per candidate instead took 30 ms against 18 ms for 4,000 pending requests
    (bench/README.md, "Reviewer fan-out")."""
    from django.contrib.auth import get_user_model

    return Subquery(
        get_user_model()
        .groups.through.objects.filter(user=user, group__reviewer_profile__isnull=False)
        .values("group_id")[:1]
    )


def _view_rows(user) -> Q:
    """Requests `user` may see through their reviewer profile group or their own row:
    correlated EXISTS over guardian's direct-FK tables.

    Hand-written rather than guardian's `get_objects_for_user`, whose `pk IN (rows of every
    request the group may see)` hashes all of a profile's history for each listing (~0.5 s
    at 85k rows; bench/README.md, "Reviewer fan-out"). EXISTS lets the database probe the
    (group|user, permission, request) indexes for the few candidate rows only.
    """
    from requests_app.models import (
        AccessRequestGroupObjectPermission,
        AccessRequestUserObjectPermission,
    )

    permission = _permission_id("view_accessrequest")
    by_group = AccessRequestGroupObjectPermission.objects.filter(
        content_object=OuterRef("pk"), permission=permission, group_id=_profile_group(user)
    )
    by_user = AccessRequestUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), permission=permission, user=user
    )
    return Q(Exists(by_group)) | Q(Exists(by_user))


def _review_rows(user) -> Q:
    """Requests on which `user`'s reviewer profile group holds the review row, within its
    review window: a profile whose rule depends on `request.pending_for` has the row while
    the request is pending (it sees it) but is offered it only within its window.

    Review rows exist only while a request may be reviewed (they end when it leaves
    PENDING, `services.visibility.request_review_rows_end`; a break-glass use keeps them
    for its ratification), so the profile's review rows are its queue: `pk IN` over them
    reads the (group, permission, request) index for that profile only, and the cost
    follows the reviewer's own queue, not the company's pending count nor the profile's
    history (bench/README.md, "`needs_review`").
    """
    from requests_app.models import AccessRequestGroupObjectPermission, review_open_at

    rows = AccessRequestGroupObjectPermission.objects.filter(
        group_id=_profile_group(user), permission=_permission_id("review_accessrequest")
    ).filter(review_open_at(timezone.now()))
    return Q(pk__in=rows.values("content_object_id"))


# Model-level permissions that reach every request: auditors see them all; holders of the
# direct-resolution or revoke permissions may act on any request, so they must be able to
# address (and see) any request too.
SEE_ALL_PERMISSIONS = (
    "requests_app.view_accessrequest",
    "requests_app.resolve_accessrequest",
    "requests_app.revoke_grant",
)


class AccessRequestQuerySet(QuerySet):
    def pending_at(self, at) -> AccessRequestQuerySet:
        """PENDING requests whose pending time has not run out at `at` (still reviewable)."""
        return self.filter(state=RequestState.PENDING, expires__gt=at)

    def access_live_at(self, at) -> AccessRequestQuerySet:
        """APPROVED requests whose access has not ended at `at` (active or starting later)."""
        return self.filter(state=RequestState.APPROVED, access_expires__gt=at)

    def visible_to(self, user) -> AccessRequestQuerySet:
        """Requests `user` may see: their own, those they may review (guardian rows), or all
        for superusers and holders of a SEE_ALL_PERMISSIONS permission (auditors,
        resolvers). Anything else is not found (404), never forbidden."""
        if not user.is_active or user.is_anonymous:
            return self.none()
        if user.is_superuser or any(user.has_perm(perm) for perm in SEE_ALL_PERMISSIONS):
            return self.all()
        return self.filter(Q(user=user) | _view_rows(user))

    def reviewable_by(self, user) -> AccessRequestQuerySet:
        """Requests on which `user`'s reviewer profile holds the review row (the projection
        of policy; the review service re-checks policy itself). Their own requests included:
        callers that list work exclude them."""
        if not user.is_active or user.is_anonymous:
            return self.none()
        return self.filter(_review_rows(user))
