"""The page a reviewer's one-time review link opens: sign-in required, a confirmation on GET
(nothing happens by opening it), the review on POST through the link service."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accessportal.kernel.errors import DomainError
from requests_app.portal.forms import ReviewForm, add_domain_error
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.services.review_links import (
    ReviewLinkRefused,
    review_link_check,
    review_link_redeem,
)
from requests_app.services.reviews import review_reason_required, review_refusal

TEMPLATE = "portal/review_link.html"


def _refused(request: HttpRequest, err: ReviewLinkRefused) -> HttpResponse:
    return portal_render(request, TEMPLATE, {"refused": err.message}, status=err.status)


@require_http_methods(["GET", "POST"])
@portal_view
def review_link(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link is for and the verdict buttons; POST: the review."""
    try:
        link = review_link_check(token=token, user=request.user)
    except ReviewLinkRefused as err:
        return _refused(request, err)
    access_request = link.request
    form = ReviewForm(
        request.POST if request.method == "POST" else None,
        auto_id="link-%s",
        reason_required=review_reason_required(access_request),
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        verdict = form.cleaned_data["state"]
        try:
            review_link_redeem(
                token=token,
                user=request.user,
                state=verdict,
                reason=form.cleaned_data["reason"],
            )
        except ReviewLinkRefused as err:
            return _refused(request, err)
        except DomainError as err:
            add_domain_error(form, err)
            status = err.status
        else:
            verb = "approved" if verdict == "APPROVED" else "denied"
            messages.success(request, f"You {verb} {access_request.user.get_username()}'s request.")
            return redirect(reverse("portal:request-detail", args=[access_request.pk]))
    elif request.method == "POST":
        status = 400
    # Said up front, before anyone fills the form in (no longer pending, reviewed already).
    refusal = review_refusal(access_request, request.user)
    return portal_render(
        request,
        TEMPLATE,
        {
            "r": access_request,
            "link": link,
            "form": form,
            "refusal": refusal.message if refusal and not form.errors else "",
        },
        status=status,
    )
