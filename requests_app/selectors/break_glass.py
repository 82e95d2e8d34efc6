"""Reads of break-glass uses: the ratification queue every surface shows."""

from __future__ import annotations

from django.db.models import QuerySet

from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest


def break_glass_awaiting_for(user) -> QuerySet[AccessRequest]:
    """Break-glass uses awaiting `user`'s ratification, nearest deadline first: AWAITING
    (timed-out ones included: they still need a verdict), on requests `user`'s reviewer
    profile may review, never their own. The service re-checks policy (`reviewer_refusal`)."""
    return (
        AccessRequest.objects.filter(break_glass__state=Ratification.AWAITING)
        .reviewable_by(user)
        .exclude(user=user)
        .order_by("break_glass__deadline", "id")
    )


def break_glass_flagged(user_ids) -> set[int]:
    """Of `user_ids`, those with a rejected break-glass use: flagged for reviewers and admins."""
    return set(
        BreakGlass.objects.filter(user_id__in=list(user_ids), state=Ratification.REJECTED)
        .values_list("user_id", flat=True)
        .distinct()
    )
