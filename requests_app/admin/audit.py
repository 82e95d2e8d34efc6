"""The audit log in admin: searchable, filterable, and impossible to change from here.

Shown to holders of `requests_app.view_auditevent` (auditors) and superusers. Events are
appended only by `accessportal.kernel.audit.audit_record`; a "Verify chain" button walks
the hash chain.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.admin.base import ExportChangeListMixin, ReadOnlyAdmin
from requests_app.selectors.exports import ExportTooLarge, audit_csv
from requests_app.services.audit_completeness import audit_completeness
from requests_app.services.heartbeats import audit_verification_record

MISSING_SHOWN = 5  # missing events named in the message; verify_audit lists them all


class ActionFilter(SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        actions = AuditEvent.objects.order_by("action").values_list("action", flat=True)
        return [(a, a) for a in actions.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


class TargetTypeFilter(SimpleListFilter):
    title = "target"
    parameter_name = "target_type"

    def lookups(self, request, model_admin):
        kinds = AuditEvent.objects.order_by("target_type").values_list("target_type", flat=True)
        return [(k, k) for k in kinds.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(target_type=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ExportChangeListMixin, ReadOnlyAdmin):
    list_display = ["seq", "created", "actor_name", "action", "target", "summary"]
    list_display_links = ["seq"]
    list_filter = [ActionFilter, TargetTypeFilter, "created"]
    search_fields = ["actor_name", "action", "target_id"]
    date_hierarchy = "created"
    ordering = ["-seq"]
    fields = [
        "seq",
        "created",
        "actor_name",
        "action",
        "target_type",
        "target_id",
        "pretty_data",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.has_perm("requests_app.view_auditevent")

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm("requests_app.view_auditevent")

    def get_queryset(self, request: HttpRequest):
        if not self.has_view_permission(request):
            return AuditEvent.objects.none()
        return super().get_queryset(request)

    @admin.display(description="target")
    def target(self, event: AuditEvent) -> str:
        if event.target_type == "access_request":
            url = reverse("admin:requests_app_accessrequest_change", args=[event.target_id])
            return format_html('<a href="{}">request {}</a>', url, event.target_id[:8])
        return f"{event.target_type} {event.target_id}"

    @admin.display(description="details")
    def summary(self, event: AuditEvent) -> str:
        data = event.data or {}
        parts = []
        for key in ("user", "group", "state", "roles", "resources"):
            value = data.get(key)
            if isinstance(value, list):
                value = ", ".join(map(str, value))
            if value:
                parts.append(f"{key}: {value}")
        if isinstance(changes := data.get("changes"), dict) and changes:
            parts.append(f"changed: {', '.join(changes)}")  # account.* and group.* events
        if data.get("override"):
            parts.append(f"override: {data.get('why') or 'yes'}")
        if data.get("reason"):
            parts.append(f"reason: {data['reason']}")
        return Truncator("; ".join(parts)).chars(100) or "—"

    @admin.display(description="data")
    def pretty_data(self, event: AuditEvent) -> str:
        text = json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre class="ap-json">{}</pre>', text)

    def changelist_view(self, request, extra_context=None):
        export = {"export_url": reverse("admin:requests_app_auditevent_export")}
        return super().changelist_view(request, {**export, **(extra_context or {})})

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the change list's events (its filters, search and dates) as CSV, in chain
        order, every page."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        try:
            return audit_csv(self.export_queryset(request))
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("the list's filters are not valid: open the list again")
        except ExportTooLarge as too_large:
            return HttpResponseBadRequest(too_large.message)

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="requests_app_auditevent_export",
            ),
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="requests_app_auditevent_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest):
        """POST: walk the hash chain and check every request and grant has its events, as
        `manage.py verify_audit` does without anchors (reads the log; records only the
        outcome, for the metrics)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:requests_app_auditevent_changelist")
        if request.method != "POST":
            return HttpResponseRedirect(changelist)
        report = audit_verify()
        if report.ok:
            messages.success(request, f"Audit chain verified: {report.checked} events, intact.")
        else:
            messages.error(
                request, f"Audit chain BROKEN after {report.checked} events: {report.problem}"
            )
        complete = audit_completeness()
        if complete.missing:
            shown = "; ".join(str(m) for m in complete.missing[:MISSING_SHOWN])
            more = len(complete.missing) - MISSING_SHOWN
            messages.error(
                request,
                f"{len(complete.missing)} audit event(s) missing: {shown}"
                + (f"; and {more} more (manage.py verify_audit lists them)" if more > 0 else ""),
            )
        audit_verification_record(ok=report.ok and not complete.missing)
        return HttpResponseRedirect(changelist)
