"""Template tags of the review desk: the queue summary on the admin index."""

from __future__ import annotations

from django import template
from django.urls import reverse

from requests_app.selectors import requests_needing_review

register = template.Library()


@register.inclusion_tag("admin/requests_app/_queue_panel.html", takes_context=True)
def review_queue_panel(context) -> dict:
    """How many requests wait for this user's review, for reviewers only."""
    request = context.get("request")
    if request is None:
        return {"show": False}
    from requests_app.admin.requests.queue import reviews_anything

    if not reviews_anything(request):
        return {"show": False}
    pending = requests_needing_review(request.user)
    return {
        "show": True,
        "count": pending.count(),
        "oldest": pending.select_related("user").first(),
        "queue_url": reverse("admin:requests_app_pendingrequest_changelist"),
    }
