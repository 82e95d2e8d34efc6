"""The review inbox: the same queue as the admin desk, for reviewers who are not staff."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accessportal.kernel.choices import ReviewState
from requests_app.portal import selectors
from requests_app.portal.forms import ReviewForm
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.portal.views.break_glass import ratification_queue
from requests_app.selectors import requests_needing_review
from requests_app.selectors.usage import SHOWN, unused_grants_by_user
from requests_app.services.reviews import review_reason_required
from requests_app.services.thresholds import progress
from requests_app.services.windows import access_windows

INBOX_LIMIT = 100


@require_GET
@portal_view
def inbox(request: HttpRequest) -> HttpResponse:
    """Break-glass uses awaiting this user's ratification, nearest deadline first; pending
    requests they may review and have not, oldest first; then their history."""
    queue = list(
        requests_needing_review(request.user)
        .select_related("user", "extends")
        .prefetch_related("reviews__reviewer")[:INBOX_LIMIT]
    )
    windows = access_windows(queue, timezone.now())
    # One more than shown, to say "at least" when there are more.
    unused = unused_grants_by_user(
        user_ids={r.user_id for r in queue}, viewer=request.user, limit=SHOWN + 1
    )
    items = [
        {
            "r": r,
            "window": windows[r.pk],
            "progress": progress(r.policy, list(r.reviews.all())),
            "approved_by": [
                rv.reviewer.get_username()
                for rv in r.reviews.all()
                if rv.state == ReviewState.APPROVED
            ],
            "unused": unused.get(r.user_id, [])[:SHOWN],
            "unused_more": len(unused.get(r.user_id, [])) > SHOWN,
            "form": ReviewForm(
                auto_id=f"review-{r.pk}-%s", reason_required=review_reason_required(r)
            ),
        }
        for r in queue
    ]
    return portal_render(
        request,
        "portal/inbox.html",
        {
            "items": items,
            "glass_items": ratification_queue(request.user),
            "reviewed": selectors.reviews_by(request.user),
        },
    )
