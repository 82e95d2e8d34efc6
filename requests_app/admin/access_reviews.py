"""Access reviews in the admin desk: definitions (read-only: they come from policy files;
"start a run now" for holders of `start_campaignrun`), runs with their CSV/PDF reports
(auditors), and the item queue (keep/remove with a reason, through the service). Every
queryset is the caller's visible rows; anything else is 404."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accessportal.kernel.errors import DomainError
from policies_app.models import AccessReview, MembershipHold
from policies_app.services.memberships import RELEASE_HOLDS, membership_hold_release
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.models import CampaignItem, CampaignRun
from requests_app.selectors.access_reviews import (
    campaign_items_visible_to,
    campaign_runs_visible_to,
)
from requests_app.services.access_review_reports import report_csv, report_pdf
from requests_app.services.access_reviews import campaign_item_decide, campaign_start
from requests_app.services.text import MAX_REASON


@admin.register(AccessReview)
class AccessReviewAdmin(ReadOnlyAdmin):
    list_display = ["name", "description", "updated"]
    readonly_fields = ["name", "description", "spec", "created", "updated"]
    actions = ["start_now"]

    def has_start_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("requests_app.start_campaignrun")

    @admin.action(description="Start a run now", permissions=["start"])
    def start_now(self, request: HttpRequest, queryset) -> None:
        for review in queryset:
            try:
                run = campaign_start(review_name=review.name, actor=request.user)
            except DomainError as err:
                self.message_user(request, err.message, messages.ERROR)
                return
            self.message_user(request, f"Started {run} with {run.items.count()} items.")


class ReleaseActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=MAX_REASON, label="Reason")


@admin.register(MembershipHold)
class MembershipHoldAdmin(admin.ModelAdmin):
    """Memberships an access review removed that policy files still name. Releasing a hold
    (another administrator than its member, with a reason, audited: the service) lets the
    next `apply_policies` give the role back; there is no plain delete."""

    list_display = ["user", "role", "removed_by", "created"]
    readonly_fields = ["user", "role", "reason", "removed_by", "created"]
    action_form = ReleaseActionForm
    actions = ["release"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # only through `release` (membership_hold_release)

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RELEASE_HOLDS)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(
        description="Release the selected holds (reason below; the next apply gives the role back)",
        permissions=["release"],
    )
    def release(self, request: HttpRequest, queryset) -> None:
        reason = request.POST.get("reason", "")
        done = 0
        for hold in queryset:
            try:
                membership_hold_release(hold_id=hold.pk, actor=request.user, reason=reason)
            except DomainError as err:
                self.message_user(request, f"{hold}: {err.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} hold(s) released.")


@admin.register(CampaignRun)
class CampaignRunAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "state", "started", "started_by", "deadline", "reports"]
    list_filter = ["state", "name"]
    readonly_fields = ["name", "state", "started", "started_by", "scheduled_for", "deadline",
                       "closed", "spec", "reports"]  # fmt: skip

    def get_queryset(self, request: HttpRequest):
        return campaign_runs_visible_to(request.user)

    def get_urls(self):
        return [
            path(
                "<int:pk>/report.<str:fmt>",
                self.admin_site.admin_view(self.report_view),
                name="requests_app_campaignrun_report",
            ),
            *super().get_urls(),
        ]

    @admin.display(description="Report")
    def reports(self, run: CampaignRun) -> str:
        url = reverse("admin:requests_app_campaignrun_report", args=[run.pk, "csv"])
        pdf = reverse("admin:requests_app_campaignrun_report", args=[run.pk, "pdf"])
        return format_html('<a href="{}">CSV</a> · <a href="{}">PDF</a>', url, pdf)

    def report_view(self, request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
        run = self.visible_object(request, str(pk))
        if fmt == "csv":
            response = HttpResponse(report_csv(run), content_type="text/csv; charset=utf-8")
        elif fmt == "pdf":
            response = HttpResponse(report_pdf(run), content_type="application/pdf")
        else:
            raise Http404("report.csv or report.pdf")
        response["Content-Disposition"] = f'attachment; filename="access-review-{run.pk}.{fmt}"'
        return response


class DecisionActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=MAX_REASON, label="Reason")


@admin.register(CampaignItem)
class CampaignItemAdmin(ReadOnlyAdmin):
    list_display = ["user", "role", "run", "sources", "outcome", "decided_by", "decided_at"]
    list_filter = ["outcome", "run__name"]
    readonly_fields = ["run", "user", "role", "sources", "decision", "reason", "decided_by",
                       "decided_at", "outcome", "note"]  # fmt: skip
    action_form = DecisionActionForm
    actions = ["keep", "remove"]

    def get_queryset(self, request: HttpRequest):
        return campaign_items_visible_to(request.user).select_related("run", "user")

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def _decide(self, request: HttpRequest, queryset, decision: str) -> None:
        reason = request.POST.get("reason", "")
        done = 0
        for item in queryset:
            try:
                campaign_item_decide(
                    item_id=item.pk, reviewer=request.user, decision=decision, reason=reason
                )
            except DomainError as err:
                self.message_user(request, f"{item}: {err.message}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} item(s) decided: {decision.lower()}.")

    @admin.action(
        description="Keep the selected memberships (reason below)", permissions=["decide"]
    )
    def keep(self, request: HttpRequest, queryset) -> None:
        self._decide(request, queryset, CampaignItem.Decision.KEEP)

    @admin.action(
        description="Remove the selected memberships (reason below)", permissions=["decide"]
    )
    def remove(self, request: HttpRequest, queryset) -> None:
        self._decide(request, queryset, CampaignItem.Decision.REMOVE)
