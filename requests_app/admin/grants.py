"""Grants in admin: active, scheduled and past access, and a Revoke action with a reason.

Revoking goes through `access_request_revoke`, which ends every grant of the request and
checks `may_revoke` (the requester, an eligible reviewer, or holders of revoke_grant).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accessportal.kernel.errors import DomainError
from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.admin.forms import RevokeForm
from requests_app.admin.requests.queue import reviews_anything
from requests_app.models import AccessRequest, Grant
from requests_app.querysets import grant_open_q
from requests_app.selectors.provisioning import grant_status, grants_provisioning
from requests_app.selectors.usage import grants_never_used
from requests_app.services.grants import access_request_revoke, may_revoke_any

REVOKE_TEMPLATE = "admin/requests_app/grant/revoke_confirm.html"


def grant_state(grant: Grant, now=None) -> str:
    """revoked, active, ended, scheduled, or "revoking" while a target has not confirmed the
    removal (provisioning computed for the whole page by `GrantAdmin`, else for this grant)."""
    now = now or timezone.now()
    return grant_status(grant, provisioning_of(grant, now), now)


def provisioning_of(grant: Grant, now):
    if not hasattr(grant, "_provisioning"):
        grant._provisioning = grants_provisioning([grant], now=now)[grant.pk]
    return grant._provisioning


def provisioning_html(grant: Grant, now=None, *, detail: bool = False):
    """One badge per target ("group ok (files): applied"), the error beside a failure."""
    rows = provisioning_of(grant, now or timezone.now()).rows
    if not rows:
        return "—"
    css = {"applied": "approved", "failed": "denied", "pending": "pending", "revoking": "pending"}
    if not detail:  # the list: one short badge per state ("2 applied", "1 failed"), the
        # targets and errors in its tooltip; the grant's page lists every target
        by_state: dict[str, list[dict]] = {}
        for row in rows:
            by_state.setdefault(row["state"], []).append(row)
        return format_html_join(
            " ",
            '<span class="ap-badge ap-{}" title="{}">{} {}</span>',
            (
                (
                    css.get(state, "muted"),
                    "; ".join(
                        f"{r['target']} ({r['provisioner']})"
                        + (f": {r['error']}" if r["error"] else "")
                        for r in group
                    ),
                    len(group),
                    state,
                )
                for state, group in sorted(by_state.items())
            ),
        )
    return format_html_join(
        mark_safe("<br>") if detail else " ",
        '<span class="ap-badge ap-{}" title="{}">{} ({}): {}</span>{}',
        (
            (
                css.get(r["state"], "muted"),
                r["error"],
                r["target"],
                r["provisioner"],
                r["state"],
                f" {r['error']}" if detail and r["error"] else "",
            )
            for r in rows
        ),
    )


class GrantStateFilter(SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("active", "Active now"),
            ("scheduled", "Scheduled"),
            ("ended", "Ended"),
            ("revoked", "Revoked"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        live = Q(revoked_at=None)
        return {
            "active": queryset.filter(grant_open_q(now)),
            "scheduled": queryset.filter(live, starts__gt=now),
            "ended": queryset.filter(live, expires__lte=now),
            "revoked": queryset.exclude(revoked_at=None),
        }.get(self.value(), queryset)


class UsageFilter(SimpleListFilter):
    """Auditors: grants approved and never used (`selectors.usage`), or used."""

    title = "use"
    parameter_name = "use"

    def lookups(self, request, model_admin):
        return [("never", "Never used (recent)"), ("used", "Used")]

    def queryset(self, request, queryset):
        if self.value() == "never":
            return queryset.filter(pk__in=grants_never_used().values("pk"))
        if self.value() == "used":
            return queryset.exclude(first_used=None)
        return queryset


class _VisibleValuesFilter(SimpleListFilter):
    """Choices drawn from the grants the user may see, never from the whole table."""

    field = ""

    def lookups(self, request, model_admin):
        values = (
            model_admin.get_queryset(request)
            .exclude(**{self.field: ""})
            .order_by(self.field)
            .values_list(self.field, flat=True)
            .distinct()
        )
        return [(v, v) for v in values]

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class RoleFilter(_VisibleValuesFilter):
    title = "role"
    parameter_name = "role"
    field = "role"


class ResourceFilter(_VisibleValuesFilter):
    title = "resource"
    parameter_name = "resource"
    field = "resource"


class UserFilter(_VisibleValuesFilter):
    title = "user"
    parameter_name = "user"
    field = "user__username"


@admin.action(description="Revoke the access of selected grants…", permissions=["revoke"])
def revoke_selected(modeladmin, request: HttpRequest, queryset: QuerySet):
    """Confirm with a required reason, then revoke each grant's request in turn."""
    grants = list(queryset.select_related("request__user", "user").order_by("request_id", "id"))
    by_request = {}
    for grant in grants:
        by_request.setdefault(grant.request_id, grant.request)
    form = RevokeForm(request.POST if request.POST.get("post") == "yes" else None)
    if form.is_bound and form.is_valid():
        done = 0
        for access_request in by_request.values():
            label = display.request_label(access_request)
            try:
                access_request_revoke(
                    request_id=access_request.pk,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as err:
                messages.error(request, f"{label}: not revoked: {err.message}.")
                continue
            done += 1
            messages.success(request, f"{label}: access revoked.")
        level = messages.SUCCESS if done == len(by_request) else messages.WARNING
        modeladmin.message_user(request, f"{done} of {len(by_request)} requests revoked.", level)
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Revoke access",
        "opts": modeladmin.model._meta,
        "grants": [{"obj": g, "state": grant_state(g)} for g in grants],
        "requests": [
            {"obj": r, "url": display.request_page_url(r), "label": display.request_label(r)}
            for r in by_request.values()
        ],
        "form": form,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, REVOKE_TEMPLATE, context, status=400 if form.is_bound else 200)


@admin.register(Grant)
class GrantAdmin(ReadOnlyAdmin):
    """Grants of requests the user may see; written only by the services."""

    # The state right after whose (see AccessRequestAdmin.list_display).
    list_display = [
        "user", "state", "target", "starts", "expires", "first_used", "last_used",
        "provisioning", "request_link",
    ]  # fmt: skip
    readonly_fields = ["provisioning_detail"]
    list_filter = [GrantStateFilter, UsageFilter, UserFilter, RoleFilter, ResourceFilter]
    search_fields = ["user__username", "role", "resource"]
    actions = [revoke_selected]
    date_hierarchy = "starts"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Grant]:
        visible = AccessRequest.objects.visible_to(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(request__in=visible)
            .select_related("user", "request__user")
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Revoke is offered to whoever `may_revoke` can answer yes for (`may_revoke_any`);
        never to an auditor who only reads. `access_request_revoke` decides per request."""
        return may_revoke_any(request.user, reviews=reviews_anything(request))

    def get_changelist_instance(self, request: HttpRequest):
        """The page's grants with their provisioning, computed once for the whole page."""
        changelist = super().get_changelist_instance(request)
        grants = list(changelist.result_list)  # evaluates (and caches) the page's rows
        computed = grants_provisioning(grants, now=timezone.now())
        for grant in grants:
            grant._provisioning = computed[grant.pk]
        return changelist

    @admin.display(description="provisioning")
    def provisioning(self, grant: Grant):
        return provisioning_html(grant)

    @admin.display(description="provisioning")
    def provisioning_detail(self, grant: Grant):
        return provisioning_html(grant, detail=True)

    @admin.display(description="role or resource")
    def target(self, grant: Grant) -> str:
        kind = "role" if grant.role else "resource"
        return format_html('<span class="ap-chip ap-chip-{}">{}</span>', kind, grant.target)

    @admin.display(description="state")
    def state(self, grant: Grant) -> str:
        state = grant_state(grant)
        css = {
            "active": "approved",
            "scheduled": "pending",
            "revoked": "denied",
            "revoking": "pending",
        }.get(state, "muted")
        return format_html('<span class="ap-badge ap-{}">{}</span>', css, state)

    @admin.display(description="request")
    def request_link(self, grant: Grant) -> str:
        return format_html('<a href="{}">open</a>', display.request_page_url(grant.request))
