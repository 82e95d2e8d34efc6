"""Break-glass in the portal: the reviewers' ratification queue and its Ratify/Reject.

Taking break-glass access is the request form's "Break glass" button
(`views.new_request`); judging it happens here, through `break_glass_decide`.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accessportal.kernel.errors import DomainError
from requests_app.portal.forms import RatifyForm, add_domain_error
from requests_app.portal.views.base import portal_render, portal_view, safe_next
from requests_app.portal.views.my_requests import visible_request
from requests_app.selectors.break_glass import break_glass_awaiting_for, break_glass_flagged
from requests_app.services.break_glass import PAST, break_glass_decide

QUEUE_LIMIT = 100


def ratification_queue(user) -> list[dict]:
    """The break-glass uses awaiting `user`'s verdict, nearest deadline first, each with its
    form and whether its requester is already flagged (an earlier use was rejected)."""
    uses = list(break_glass_awaiting_for(user).select_related("user", "break_glass")[:QUEUE_LIMIT])
    flagged = break_glass_flagged(r.user_id for r in uses)
    now = timezone.now()
    return [
        {
            "r": r,
            "glass": r.break_glass,
            "timed_out": r.break_glass.timed_out_at(now),
            "flagged": r.user_id in flagged,
            "form": RatifyForm(auto_id=f"ratify-{r.pk}-%s"),
        }
        for r in uses
    ]


@require_POST
@portal_view
def request_ratify(request: HttpRequest, pk) -> HttpResponse:
    """Ratify or reject a break-glass use, from the inbox."""
    access_request = visible_request(request, pk)  # 404 unless visible
    form = RatifyForm(request.POST, auto_id=f"ratify-{access_request.pk}-%s")
    status = 400
    if form.is_valid():
        verdict = form.cleaned_data["verdict"]
        try:
            break_glass_decide(
                request_id=access_request.pk,
                reviewer=request.user,
                verdict=verdict,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as err:
            add_domain_error(form, err)
            status = err.status
        else:
            name = access_request.user.get_username()
            outcome = (
                "Its access was revoked now and the requester flagged."
                if verdict == "reject"
                else "Its access runs to the end of its approved window."
            )
            messages.success(request, f"You {PAST[verdict]} {name}'s break-glass access. {outcome}")
            return redirect(safe_next(request, reverse("portal:inbox")))
    items = ratification_queue(request.user)
    for item in items:
        if item["r"].pk == access_request.pk:
            item["form"] = form
    context = {"items": [], "glass_items": items, "reviewed": [], "ratify_failed": True}
    return portal_render(request, "portal/inbox.html", context, status=status)
