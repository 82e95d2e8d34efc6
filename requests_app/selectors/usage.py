"""Grants approved and never used: the one rule every surface shows (issue 21).

A grant counts when its access started (it was active, or still is) within the last
USAGE_UNUSED_WINDOW days, it was not revoked before it started, and no use was ever
recorded (`services.usage`: an allowed access check or a credential). Reviewers see the
requester's (API request detail, admin desk, portal inbox); auditors filter the grants'
list by it; the `accessportal_grants_unused` gauge counts it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from requests_app.models import AccessRequest, Grant

SHOWN = 20  # grants listed per requester on a review surface (the API, the desk, the inbox)


def grants_never_used(*, at: datetime | None = None, days: int | None = None) -> QuerySet[Grant]:
    """Grants whose access started by `at` (default now), open at some time in the last
    `days` (default USAGE_UNUSED_WINDOW), never revoked before their start, never used."""
    now = at or timezone.now()
    since = now - timedelta(days=settings.USAGE_UNUSED_WINDOW if days is None else days)
    return Grant.objects.filter(
        Q(revoked_at=None) | Q(revoked_at__gt=F("starts")),
        first_used=None,
        starts__lte=now,
        expires__gt=since,
    )


def _seen_by(grants: QuerySet[Grant], viewer) -> QuerySet[Grant]:
    """Only grants of requests `viewer` may see: the list never reveals another request."""
    return grants.filter(request__in=AccessRequest.objects.visible_to(viewer).values("pk"))


def unused_grants_of(
    *, user_id: int, viewer, exclude_request=None, at: datetime | None = None
) -> QuerySet[Grant]:
    """`grants_never_used` of one user that `viewer` may see (their requests' visibility),
    newest first; `exclude_request` leaves out the grants of the request being reviewed."""
    grants = _seen_by(grants_never_used(at=at).filter(user_id=user_id), viewer)
    if exclude_request is not None:
        grants = grants.exclude(request_id=exclude_request)
    return grants.order_by("-starts", "id")


def unused_grants_by_user(
    *, user_ids, viewer, at: datetime | None = None, limit: int = SHOWN
) -> dict[int, list[Grant]]:
    """`unused_grants_of` several users at once (the review inbox: one query for the page),
    at most `limit` each: {user id: [grants]}."""
    found: dict[int, list[Grant]] = {}
    grants = _seen_by(grants_never_used(at=at).filter(user_id__in=list(user_ids)), viewer)
    # Numbered per user in the database, so a requester with thousands of unused grants
    # costs `limit` rows, not thousands.
    newest_first = [F("starts").desc(), F("id").asc()]
    grants = (
        grants.annotate(nth=Window(RowNumber(), partition_by=[F("user_id")], order_by=newest_first))
        .filter(nth__lte=limit)
        .order_by("-starts", "id")
    )
    for grant in grants:
        found.setdefault(grant.user_id, []).append(grant)
    return found
