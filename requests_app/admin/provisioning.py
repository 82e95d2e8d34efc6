"""Provisioning on the desk: targets (with the reconciler's lag, errors and repairs, and
"Reconcile now") and (user, target) assignments (with "Retry now"). Read-only: both actions
go through `services.provisioning.retry`, which checks the permission and audits. Only
holders of the models' view permissions (and superusers) see these pages."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import SimpleListFilter
from django.db.models import Count, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accessportal.kernel.choices import ProvisionState
from policies_app.models import ProvisionTarget
from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin, queue_action
from requests_app.models import ProvisionAssignment
from requests_app.selectors.provisioning_targets import DISPLAY_STATE_Q, targets_failing
from requests_app.services.provisioning.retry import (
    RECONCILE_PERMISSION,
    RETRY_PERMISSION,
    provision_reconcile_request,
    provision_retry,
)

STATE_CSS = {"applied": "approved", "pending": "pending", "failed": "denied", "revoking": "pending"}


def state_badge(state: str):
    return format_html(
        '<span class="ap-badge ap-{}">{}</span>', STATE_CSS.get(state, "muted"), state
    )


def short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _PermissionAdmin(ReadOnlyAdmin):
    """Visible to holders of the model's view permission, not to every staff member."""

    def _may_view(self, request: HttpRequest) -> bool:
        opts = self.model._meta
        perm = f"{opts.app_label}.view_{opts.model_name}"
        return request.user.is_active and request.user.is_staff and request.user.has_perm(perm)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_view(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return self._may_view(request)


class FailingFilter(SimpleListFilter):
    title = "failing"
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        return [("yes", "Failing (an assignment or the last reconcile)"), ("no", "Healthy")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return targets_failing(queryset, failing=self.value() == "yes")
        return queryset


class AssignmentInline(admin.TabularInline):
    """The target's (user, target) assignments on its page."""

    model = ProvisionAssignment
    extra = 0
    can_delete = False
    fields = ["user", "shown_state", "account", "attempts", "next_attempt_at", "last_error"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("requests_app.view_provisionassignment")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("user__username")

    @admin.display(description="state")
    def shown_state(self, row: ProvisionAssignment):
        return state_badge(row.display_state)


@admin.register(ProvisionTarget)
class ProvisionTargetAdmin(_PermissionAdmin):
    """Targets from policy, as the reconciler last found them; written only by
    `apply_policies` and the engine."""

    # Few, short columns: the list fits beside the desk's menu and filters (the target's
    # page has every field).
    list_display = ["label", "provisioner", "managed", "last_reconcile", "failing_count"]
    list_filter = ["provisioner", FailingFilter, "managed"]
    search_fields = ["label", "provisioner"]
    fields = [
        "label",
        "provisioner",
        "config",
        "managed",
        "roles",
        "resources",
        "retired_at",
        "last_reconciled_at",
        "reconcile_lag_seconds",
        "last_reconcile_error",
        "reconcile_repairs",
        "created",
        "updated",
    ]
    readonly_fields = fields
    inlines = [AssignmentInline]
    actions = ["reconcile_now"]

    def get_queryset(self, request):
        failing = Count("assignments", filter=Q(assignments__state=ProvisionState.FAILED))
        return super().get_queryset(request).annotate(_failing=failing)

    @admin.display(description="lag", ordering="reconcile_lag_seconds")
    def lag(self, target: ProvisionTarget) -> str:
        seconds = target.reconcile_lag_seconds
        return "—" if seconds is None else f"{seconds:.0f} s"

    @admin.display(description="last reconcile error")
    def short_error(self, target: ProvisionTarget) -> str:
        return short(target.last_reconcile_error) or "—"

    @admin.display(description="last reconcile", ordering="last_reconciled_at")
    def last_reconcile(self, target: ProvisionTarget):
        """When, how late, how many repairs, and the error if it failed; "retired" for a
        target no policy names any more."""
        if target.retired_at is not None:
            return format_html('<span class="ap-badge ap-muted">retired</span>')
        if target.last_reconciled_at is None:
            return "not yet"
        late = target.reconcile_lag_seconds
        late = f"{late:.0f} s late, " if late is not None else ""
        done = format_html(
            "{} ({}{} repaired)",
            display.when(target.last_reconciled_at),
            late,
            target.reconcile_repairs,
        )
        if target.last_reconcile_error:
            return format_html(
                '{}<br><span class="ap-badge ap-denied" title="{}">failed</span> {}',
                done,
                target.last_reconcile_error,
                short(target.last_reconcile_error, 60),
            )
        return done

    @admin.display(description="failing", ordering="_failing")
    def failing_count(self, target: ProvisionTarget):
        if not target._failing:
            return 0
        url = reverse("admin:requests_app_provisionassignment_changelist")
        return format_html(
            '<a class="ap-badge ap-denied" href="{}?target__id__exact={}&amp;state=failing">{}</a>',
            url,
            target.pk,
            target._failing,
        )

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RECONCILE_PERMISSION)

    reconcile_now = queue_action(
        description="Reconcile now",
        permission="reconcile",
        queue=lambda ids, actor: provision_reconcile_request(target_ids=ids, actor=actor),
        done="{count} target(s) queued to be reconciled now.",
    )


class DisplayStateFilter(SimpleListFilter):
    title = "state"
    parameter_name = "state"

    filters = {**DISPLAY_STATE_Q, "failing": Q(state=ProvisionState.FAILED)}

    def lookups(self, request, model_admin):
        return [*((s, s) for s in DISPLAY_STATE_Q), ("failing", "failing (granting or revoking)")]

    def queryset(self, request, queryset):
        q = self.filters.get(self.value())
        return queryset if q is None else queryset.filter(q)


@admin.register(ProvisionAssignment)
class ProvisionAssignmentAdmin(_PermissionAdmin):
    """Whether each user should be a member of each target, and how far the workers got."""

    list_display = [
        "user",
        "target",
        "shown_state",
        "short_error",
        "attempts",
        "next_attempt_at",
        "updated",
    ]
    list_filter = [DisplayStateFilter, "target__provisioner"]
    list_select_related = ["user", "target"]
    search_fields = ["user__username", "target__label", "account"]
    fields = [
        "user",
        "target",
        "shown_state",
        "desired",
        "state",
        "generation",
        "account",
        "attempts",
        "next_attempt_at",
        "claimed_until",
        "last_error",
        "applied_at",
        "removed_at",
        "created",
        "updated",
    ]
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description="shown as")
    def shown_state(self, row: ProvisionAssignment):
        return state_badge(row.display_state)

    @admin.display(description="last error")
    def short_error(self, row: ProvisionAssignment) -> str:
        return short(row.last_error) or "—"

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    retry_now = queue_action(
        description="Retry now (failed assignments)",
        permission="retry",
        queue=lambda ids, actor: provision_retry(assignment_ids=ids, actor=actor),
        done="{count} assignment(s) queued to be tried again now.",
        nothing="Nothing to retry: none of those assignments failed.",
    )
