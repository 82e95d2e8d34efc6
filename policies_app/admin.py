"""Roles, their policies and resources in Django admin.

Editing is allowed here, but never by writing rows directly: every save and delete goes
through `policies_app.services` (the loader's checks, an audit event, and a resync of who
may review pending requests). Forms show each policy problem on the field it came from.
"""

from __future__ import annotations

import yaml
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join

from policies_app import (  # noqa: F401 (they register their admins)
    admin_directory,
    admin_notifications,
    admin_review_rules,
)
from policies_app.admin_proposals import ProposeWhenRequired
from policies_app.documents import export_role_spec
from policies_app.engine import RolePolicy
from policies_app.forms import ResourceForm, RoleForm
from policies_app.loader import PolicyFileError
from policies_app.models import POLICY_SOURCE, Resource, Role
from policies_app.services.export import policies_export
from policies_app.services.roles_resources import (
    resource_delete,
    resource_plan,
    resource_save,
    role_delete,
    role_plan,
    role_save,
)

_DESK_CSS = {"all": ["requests_app/desk.css"]}


class _ExportMixin:
    """An "Export as YAML" page (and download) beside the changelist."""

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        text = policies_export()
        if request.GET.get("download"):
            response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
            response["Content-Disposition"] = 'attachment; filename="policies.yaml"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "title": "Policies as YAML",
            "opts": self.model._meta,
            "yaml_text": text,
            "download_url": "?download=1",
        }
        return TemplateResponse(request, "admin/policies_app/export.html", context)


@admin.register(Role)
class RoleAdmin(ProposeWhenRequired, _ExportMixin, admin.ModelAdmin):
    form = RoleForm
    list_display = ["name", "description", "may_request", "may_review", "member_count"]
    search_fields = ["name", "description"]
    readonly_fields = ["created", "updated", "provider_members"]

    class Media:
        css = _DESK_CSS

    fieldsets = [
        (None, {"fields": ["name", "description"]}),
        (
            "Who holds it",
            {
                "fields": ["policy_members", "provider_members"],
                "description": "Standing members hold the role at all times.",
            },
        ),
        (
            "What its holders may request",
            {
                "fields": [
                    "request_roles",
                    "search_as_roles",
                    "thresholds",
                    "suggested_reviewers",
                    "max_duration",
                    ("reason_mode", "reason_prompt"),
                    "annotations",
                ]
            },
        ),
        ("What its holders may review", {"fields": ["review_roles", "review_where"]}),
        (
            "What holding it gives",
            {"fields": ["resource_kinds", "resource_labels", "permissions"]},
        ),
        (
            "Deny rules (a matching deny always wins)",
            {
                "classes": ["collapse"],
                "fields": [
                    "deny_request_roles",
                    "deny_search_as_roles",
                    "deny_review_roles",
                    "deny_review_where",
                ],
            },
        ),
        ("Options", {"fields": ["request_access", ("created", "updated")]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("members")

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            # View-only: the policy as its YAML document, not a form of empty fields.
            fields = ["name", "description", "member_count", "policy_yaml", "created", "updated"]
            return [(None, {"fields": fields})]
        return super().get_fieldsets(request, obj)

    @admin.display(description="policy")
    def policy_yaml(self, role: Role) -> str:
        text = yaml.safe_dump(
            {"spec": export_role_spec(role.spec)}, sort_keys=False, allow_unicode=True
        )
        return format_html('<pre class="ap-yaml">{}</pre>', text)

    def get_readonly_fields(self, request, obj=None):
        # Renaming would silently orphan every reference to the old name.
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    @admin.display(description="may request")
    def may_request(self, role: Role) -> str:
        policy = RolePolicy(role.name, role.spec)
        items = [*policy.allow_request.get("roles", [])]
        items += [f"resources of {r}" for r in policy.allow_request.get("search_as_roles", [])]
        return ", ".join(items) or "—"

    @admin.display(description="may review")
    def may_review(self, role: Role) -> str:
        rule = role.spec.get("allow", {}).get("review_requests", {})
        return ", ".join(rule.get("roles", [])) or "—"

    @admin.display(description="members")
    def member_count(self, role: Role) -> str:
        names = sorted({m.get_username() for m in role.members.all()})
        return ", ".join(names) or "—"

    @admin.display(description="from identity providers")
    def provider_members(self, role: Role) -> str:
        """Members a provider gives (sign-in claims or SCIM): changed there, not here."""
        if role is None or role.pk is None:
            return "—"
        rows = role.memberships.select_related("user").order_by("user__username")
        names = [
            f"{m.user.get_username()} ({', '.join(s for s in m.sources if s != POLICY_SOURCE)})"
            for m in rows
            if set(m.sources) - {POLICY_SOURCE}
        ]
        return ", ".join(names) or "—"

    def proposal_plan(self, request, obj, form, change):
        return role_plan(doc=form.document, members=form.cleaned_data["policy_members"])

    def save_model(self, request, obj, form, change):
        if self.propose_instead(request, obj, form, change):
            return
        saved = role_save(
            doc=form.document, actor=request.user, members=form.cleaned_data["policy_members"]
        )
        obj.pk, obj.created, obj.updated = saved.pk, saved.created, saved.updated

    def save_related(self, request, form, formsets, change):
        """Members were set by `role_save`, audited, as part of the same change."""

    def delete_model(self, request, obj):
        role_delete(name=obj.name, actor=request.user)

    def delete_queryset(self, request, queryset):
        for role in queryset:
            role_delete(name=role.name, actor=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PolicyFileError as err:  # the form checks first; this is a race at most
            self.message_user(request, "; ".join(err.problems), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Resource)
class ResourceAdmin(ProposeWhenRequired, _ExportMixin, admin.ModelAdmin):
    form = ResourceForm
    list_display = ["resource_id", "label_list", "description"]
    list_filter = ["kind"]
    search_fields = ["kind", "name", "description"]
    ordering = ["kind", "name"]

    class Media:
        css = _DESK_CSS

    def get_readonly_fields(self, request, obj=None):
        # A resource is named in requests and grants as kind/name: it is never renamed.
        return ["kind", "name"] if obj else []

    @admin.display(description="resource", ordering="kind")
    def resource_id(self, row: Resource) -> str:
        return row.resource_id

    @admin.display(description="labels")
    def label_list(self, row: Resource) -> str:
        return (
            format_html_join(
                " ", '<span class="ap-chip">{}={}</span>', sorted((row.labels or {}).items())
            )
            or "—"
        )

    def proposal_plan(self, request, obj, form, change):
        return resource_plan(doc=form.document)

    def save_model(self, request, obj, form, change):
        if self.propose_instead(request, obj, form, change):
            return
        saved = resource_save(doc=form.document, actor=request.user)
        obj.pk, obj.created, obj.updated = saved.pk, saved.created, saved.updated

    def delete_model(self, request, obj):
        resource_delete(kind=obj.kind, name=obj.name, actor=request.user)

    def delete_queryset(self, request, queryset):
        for row in queryset:
            resource_delete(kind=row.kind, name=row.name, actor=request.user)
