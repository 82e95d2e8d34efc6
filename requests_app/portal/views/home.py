"""Home: my roles, my access with its countdown, my pending requests, what waits for me."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from requests_app.portal import provisioning, selectors
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.services.grants import continuations_many


def _access_context(request: HttpRequest) -> dict:
    now = timezone.now()
    access = provisioning.access_with_provisioning(selectors.access_current(request.user, now), now)
    heads = selectors.access_folded(access)
    chains = continuations_many(heads) if heads else {}
    for head in heads:  # what "End early" ends with it: the whole chain, as revoking does
        head.end_cancels = selectors.end_cancels(chains[head.pk], now)
    return {
        "access": heads,
        "removing": provisioning.access_being_removed(request.user, now),
    }


@require_GET
@portal_view
def home(request: HttpRequest) -> HttpResponse:
    return portal_render(
        request,
        "portal/home.html",
        {
            "standing_roles": selectors.standing_roles(request.user),
            "pending": selectors.requests_pending_of(request.user),
            "ended": selectors.access_ended_recently(request.user),
            **_access_context(request),
        },
    )


@require_GET
@vary_on_headers("HX-Request")
@portal_view
def access_panel(request: HttpRequest) -> HttpResponse:
    """The "my access" panel alone, polled by htmx so countdowns and new grants stay fresh;
    a plain visit gets the whole home page."""
    if not request.htmx:
        return redirect("portal:home")
    return portal_render(request, "portal/_access_panel.html", _access_context(request))
