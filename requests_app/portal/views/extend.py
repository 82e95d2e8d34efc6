"""Ask for more time on access I have: a new request linked to it, reviewed like any other."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accessportal.kernel.errors import DomainError
from policies_app.engine import PolicySet
from requests_app.portal.forms import ExtendForm, add_domain_error
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.portal.views.my_requests import detail_context, visible_request
from requests_app.portal.views.new_request import DURATION_SUGGESTIONS, preview_context
from requests_app.services.extensions import (
    access_request_extend,
    ensure_may_extend,
    extendable,
)


@require_http_methods(["GET", "POST"])
@portal_view
def request_extend(request: HttpRequest, pk) -> HttpResponse:
    original = visible_request(request, pk)  # 404 for a request this user may not see
    try:
        ensure_may_extend(original, request.user)
    except DomainError as err:  # seen but not theirs: 403, as on the API and accessctl
        messages.error(request, f"Not extended: {err.message}.")
        context = detail_context(request, original)
        return portal_render(request, "portal/request_detail.html", context, status=err.status)
    context: dict = {
        "original": original,
        "duration_suggestions": DURATION_SUGGESTIONS,
        "extendable": extendable(original, request.user),
    }
    status = 200
    if request.method == "POST":
        form = ExtendForm(request.POST)
        action = request.POST.get("action", "preview")
        if form.is_valid():
            try:
                created = access_request_extend(
                    requester=request.user,
                    request_id=original.pk,
                    dry_run=action != "submit",
                    **form.service_kwargs(),
                )
            except DomainError as err:
                add_domain_error(form, err)
                status = err.status
            else:
                if action == "submit":
                    messages.success(
                        request,
                        "Extension requested. If it is approved, your access continues "
                        "without a gap.",
                    )
                    return redirect("portal:request-detail", pk=created.pk)
                context.update(preview_context(created, PolicySet.load()))
        else:
            status = 400
    else:
        form = ExtendForm(initial={"reason": original.reason})
    context["form"] = form
    return portal_render(request, "portal/request_extend.html", context, status=status)
