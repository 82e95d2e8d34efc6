"""Request access: roles and resources I may request, a reason, a duration, a preview."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers

from accessportal.kernel.errors import DomainError
from policies_app.catalog import (
    requestable_resources,
    requestable_roles,
    resource_kinds_requestable,
)
from policies_app.durations import humanize_duration
from policies_app.engine import PolicySet
from policies_app.selectors import subject_for
from requests_app.portal import selectors
from requests_app.portal.forms import RequestForm, ResourceSearchForm, add_domain_error
from requests_app.portal.preview import preview_changed, preview_digest
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.services.access_requests import access_request_create
from requests_app.services.break_glass import break_glass_open
from requests_app.services.windows import access_start_for

ACTIONS = {"search", "preview", "submit", "break_glass"}
DURATION_SUGGESTIONS = ["30m", "1h", "2h", "4h", "8h", "1d", "3d"]


def resource_results(user, *, filters: dict, selected: list[str], policies: PolicySet) -> dict:
    """Ticked resources first (whatever the search), then the search's other matches."""
    allowed = requestable_resources(user, ids=selected, policies=policies) if selected else []
    ticked = {r.resource_id: r for r in allowed}
    matches = requestable_resources(user, policies=policies, **filters)
    return {
        "selected_resources": [(rid, ticked.get(rid)) for rid in selected],
        "found_resources": [r for r in matches if r.resource_id not in ticked],
        "search_active": any(filters.values()),
    }


def preview_context(preview, policies: PolicySet) -> dict:
    """What the dry run says would happen: window, cap, who decides."""
    now = timezone.now()
    starts_later = bool(preview.assume_start_time or preview.extends_id)
    return {
        "preview": preview,
        "preview_lowered": preview.max_duration < preview.requested_duration,
        "preview_starts": access_start_for(preview, now) if starts_later else None,
        "preview_reviewers": selectors.reviewers_of(preview, policies),
        "preview_rules": selectors.approval_rules(preview.policy),
    }


def reason_hint(roles, resources) -> dict:
    """The reason's label and prompt from the rules of everything on offer."""
    rules = [r.rule for r in [*roles, *resources]]
    prompts = list(dict.fromkeys(r.reason_prompt for r in rules if r.reason_prompt))
    return {
        "reason_required_all": bool(rules) and all(r.reason_required for r in rules),
        "reason_required_some": any(r.reason_required for r in rules),
        "reason_prompts": prompts,
    }


def break_glass_offer(offered) -> dict:
    """Which offered items policy lets the user take by break-glass, and the shortest time
    reviewers then have to ratify (`catalog.request_rule`, what the service applies)."""
    glass = [item for item in offered if item.rule.break_glass_within is not None]
    return {
        "break_glass_items": [getattr(i, "resource_id", None) or i.name for i in glass],
        "break_glass_within": min((i.rule.break_glass_within for i in glass), default=None),
    }


def set_help(form, name: str, text: str) -> None:
    """Help that depends on what is on offer; bound fields copy it when first built."""
    form.fields[name].help_text = text
    form[name].help_text = text


def caps_help(offered) -> str:
    """What the service does with the duration, in one sentence per case: "At most 8h for
    dev-admin; 1d for node/x. A longer ask is lowered to the cap; more than 14d is refused.
    Empty means 8h, or the cap if lower." (`access_request_create`: a duration above the
    rule's cap is lowered to it, one above ACCESS_MAX_DURATION is refused.)"""
    by_cap: dict[int, list[str]] = {}
    for item in offered:
        name = getattr(item, "resource_id", None) or item.name
        by_cap.setdefault(item.rule.max_duration, []).append(name)
    refused = humanize_duration(settings.ACCESS_MAX_DURATION)
    default = humanize_duration(settings.ACCESS_DEFAULT_DURATION)
    if not by_cap:
        return f"More than {refused} is refused. Empty means {default}."
    if len(by_cap) == 1:
        caps = humanize_duration(next(iter(by_cap)))
    else:
        caps = "; ".join(
            f"{humanize_duration(cap)} for {', '.join(names)}"
            for cap, names in sorted(by_cap.items(), reverse=True)
        )
    return (
        f"At most {caps}. A longer ask is lowered to the cap; more than {refused} is "
        f"refused. Empty means {default}, or the cap if lower."
    )


@require_http_methods(["GET", "POST"])
@portal_view
def new_request(request: HttpRequest) -> HttpResponse:
    user = request.user
    policies = PolicySet.load()
    roles = requestable_roles(user, policies=policies)
    kinds = resource_kinds_requestable(user, policies=policies)
    can_search = subject_for(user, policies).can_search_resources
    context: dict = {"duration_suggestions": DURATION_SUGGESTIONS, "can_search": can_search}
    status = 200
    if not roles and not (can_search and kinds):
        # Nothing to offer: say why and whom to ask, in place of a form that cannot work.
        context.update(
            nothing_requestable=True,
            standing_roles=selectors.standing_roles(user),
            help_contact=settings.ACCESS_PORTAL_HELP_CONTACT,
        )
        status = 403 if request.method == "POST" else 200
        return portal_render(request, "portal/request_new.html", context, status=status)

    if request.method == "POST":
        action = request.POST.get("action", "preview")
        action = action if action in ACTIONS else "preview"
        form = RequestForm(request.POST, roles=roles, kinds=kinds)
        valid = form.is_valid()
        if valid and action == "break_glass":
            try:
                created = break_glass_open(requester=user, **form.service_kwargs())
            except DomainError as err:
                add_domain_error(form, err)
                status = err.status
            else:
                messages.warning(
                    request,
                    "Break-glass access granted now. Security and the reviewers have been "
                    "told; it ends at its ratification deadline unless a reviewer ratifies it.",
                )
                return redirect("portal:request-detail", pk=created.pk)
        elif valid and action in {"preview", "submit"}:
            asked = form.service_kwargs()
            if action == "submit" and preview_changed(request.POST, asked):
                action, status = "preview", 409  # nothing sent: show what it would ask now
                context["preview_was_stale"] = True
            try:
                created = access_request_create(
                    requester=user, dry_run=action == "preview", **asked
                )
            except DomainError as err:
                add_domain_error(form, err)
                status = err.status
                context.pop("preview_was_stale", None)  # no preview shown: the errors say why
            else:
                if action == "submit":
                    messages.success(
                        request, "Request sent. Reviewers have been told; you will see it here."
                    )
                    return redirect("portal:request-detail", pk=created.pk)
                context.update(preview_context(created, policies))
                context["preview_digest"] = preview_digest(asked)
        elif not valid:
            status = 400
        selected = list(form.data.getlist("resources"))
    else:
        initial = {"roles": request.GET.getlist("role")}
        form = RequestForm(initial=initial, roles=roles, kinds=kinds)
        selected = []

    checked = form.data.getlist("roles") if form.is_bound else form.initial.get("roles", [])
    context.update(form=form, roles=roles, checked_roles=set(checked))
    offered_resources = []
    if can_search:
        results = resource_results(
            user,
            filters=form.search_filters() if form.is_bound else {},
            selected=selected,
            policies=policies,
        )
        context.update(results)
        offered_resources = [r for _, r in results["selected_resources"] if r]
        offered_resources += results["found_resources"]
    hint = reason_hint(roles, offered_resources)
    context.update(hint)
    context.update(break_glass_offer([*roles, *offered_resources]))
    set_help(form, "reason", " · ".join(hint["reason_prompts"]))
    set_help(form, "max_duration", caps_help([*roles, *offered_resources]))
    return portal_render(request, "portal/request_new.html", context, status=status)


@require_GET
@vary_on_headers("HX-Request")
@portal_view
def resource_search(request: HttpRequest) -> HttpResponse:
    """The resource results alone, for the live search (htmx) on the request page; a plain
    visit gets the request page."""
    if not request.htmx:
        return redirect("portal:request-new")
    form = ResourceSearchForm(request.GET)
    form.is_valid()
    data = form.cleaned_data
    filters = {
        "kind": data.get("resource_kind") or "",
        "search": (data.get("resource_search") or "").strip(),
        "labels": data.get("resource_labels") or {},
    }
    context = resource_results(
        request.user,
        filters=filters,
        selected=list(request.GET.getlist("resources")),
        policies=PolicySet.load(),
    )
    context["search_error"] = form.errors.get("resource_labels")
    return portal_render(request, "portal/_resource_results.html", context)
