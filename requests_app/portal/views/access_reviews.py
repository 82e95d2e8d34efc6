"""The portal's "My reviews" page: open access review items the user decides (keep or
remove, with a reason). A plain form post works without JavaScript; with htmx the decided
item is swapped for a one-line notice."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accessportal.kernel.errors import DomainError, NotFound
from policies_app.services.memberships import returning_sources
from requests_app.models import CampaignItem
from requests_app.portal.forms import add_domain_error
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.selectors.access_reviews import (
    campaign_items_to_decide,
    campaign_items_visible_to,
)
from requests_app.services.access_reviews import campaign_item_decide
from requests_app.services.text import MAX_REASON

LIMIT = 200


class DecisionForm(forms.Form):
    """The button pressed is the decision; the service requires the reason."""

    decision = forms.ChoiceField(choices=CampaignItem.Decision.choices)
    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=MAX_REASON,
        widget=forms.TextInput(attrs={"required": True, "placeholder": "e.g. still on call"}),
    )


def _entry(item: CampaignItem, form: DecisionForm | None = None) -> dict:
    return {
        "item": item,
        "returns_from": returning_sources(item.sources),
        "form": form or DecisionForm(auto_id=f"item-{item.pk}-%s"),
    }


@require_GET
@portal_view
def my_reviews(request: HttpRequest) -> HttpResponse:
    items = list(campaign_items_to_decide(request.user)[:LIMIT])
    return portal_render(
        request,
        "portal/access_reviews/my_reviews.html",
        {"entries": [_entry(i) for i in items], "nav": "my-reviews"},
    )


@require_POST
@portal_view
def my_review_decide(request: HttpRequest, pk: int) -> HttpResponse:
    item = (
        campaign_items_visible_to(request.user).select_related("run", "user").filter(pk=pk).first()
    )
    if item is None:
        raise Http404("no such review item")
    form = DecisionForm(request.POST, auto_id=f"item-{item.pk}-%s")
    status = 400
    if form.is_valid():
        try:
            item = campaign_item_decide(
                item_id=item.pk,
                reviewer=request.user,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except NotFound as err:
            raise Http404(err.message) from err
        except DomainError as err:
            add_domain_error(form, err)
            status = err.status
        else:
            verb = "kept" if item.decision == CampaignItem.Decision.KEEP else "removed"
            text = f"You {verb} {item.user.get_username()}'s {item.role} role."
            if item.note:
                text += f" Note: {item.note}."
            if request.htmx:
                return portal_render(request, "portal/access_reviews/_decided.html", {"text": text})
            messages.success(request, text)
            return redirect(reverse("portal:my-reviews"))
    if request.htmx:  # htmx swaps 200 answers only: the item again, with its errors
        status = 200
    return portal_render(
        request,
        "portal/access_reviews/_item.html"
        if request.htmx
        else "portal/access_reviews/my_reviews.html",
        {"entry": _entry(item, form), "entries": [_entry(item, form)], "nav": "my-reviews"},
        status=status,
    )
