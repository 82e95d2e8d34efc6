"""Ask for more time on access I have: a new request linked to it, reviewed like any other."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accessportal.kernel.errors import DomainError
from policies_app.catalog import requestable_resources, requestable_roles
from policies_app.durations import humanize_duration
from policies_app.engine import PolicySet
from requests_app.portal.forms import ExtendForm, add_domain_error
from requests_app.portal.preview import preview_changed, preview_digest
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.portal.views.my_requests import detail_context, visible_request
from requests_app.portal.views.new_request import (
    DURATION_SUGGESTIONS,
    caps_help,
    preview_context,
    reason_hint,
    set_help,
)
from requests_app.services.access_requests import items_rule
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
            asked = form.service_kwargs()
            if action == "submit" and preview_changed(request.POST, asked):
                action, status = "preview", 409  # nothing sent: show what it would ask now
                context["preview_was_stale"] = True
            try:
                created = access_request_extend(
                    requester=request.user,
                    request_id=original.pk,
                    dry_run=action != "submit",
                    **asked,
                )
            except DomainError as err:
                add_domain_error(form, err)
                status = err.status
                context.pop("preview_was_stale", None)  # no preview shown: the errors say why
            else:
                if action == "submit":
                    messages.success(
                        request,
                        "Extension requested. If it is approved, your access continues "
                        "without a gap.",
                    )
                    return redirect("portal:request-detail", pk=created.pk)
                context.update(preview_context(created, PolicySet.load()))
                context["preview_digest"] = preview_digest(asked)
        else:
            status = 400
    else:
        form = ExtendForm(initial={"reason": original.reason})
    context.update(form=form, **extend_rules(request.user, original, form))
    return portal_render(request, "portal/request_extend.html", context, status=status)


def extend_rules(user, original, form) -> dict:
    """The rules an extension of `original` meets, shown before any error: whether a reason
    is required and the policy's prompt, the cap, and what the button asks for."""
    policies = PolicySet.load()
    offered = [r for r in requestable_roles(user, policies=policies) if r.name in original.roles]
    if original.resources:
        offered += requestable_resources(user, ids=list(original.resources), policies=policies)
    hint = reason_hint(offered, [])
    set_help(form, "reason", " · ".join(hint["reason_prompts"]))
    set_help(form, "max_duration", caps_help(offered))
    form.fields["max_duration"].widget.attrs["data-extend-by"] = ""
    rule = items_rule(item.rule for item in offered)  # as the service applies them
    default = rule.default_duration
    typed = (form.data.get("max_duration") or "").strip() if form.is_bound else ""
    return {
        **hint,
        "reason_required": rule.reason_required,
        "extend_default": humanize_duration(default),
        "extend_by": typed[:32] or humanize_duration(default),
    }
