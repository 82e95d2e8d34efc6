"""Break-glass uses in admin: the "Awaiting ratification" queue, with Ratify and Reject.

Rows are the break-glass uses of requests the user may see (`visible_to`); the filter
"Awaiting my ratification" is `selectors.break_glass.break_glass_awaiting_for`, the queue
the API and the portal show. Both actions ask for a reason, then call `break_glass_decide`
per use, which checks who may ratify (never the requester).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html

from accessportal.kernel.errors import DomainError
from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.admin.forms import RatifyForm
from requests_app.admin.requests.queue import reviews_anything
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.selectors.break_glass import break_glass_awaiting_for, break_glass_flagged
from requests_app.services.break_glass import PAST, REJECT, break_glass_decide

CONFIRM_TEMPLATE = "admin/requests_app/breakglass/ratify_confirm.html"
MINE = "mine"


class RatificationFilter(SimpleListFilter):
    title = "ratification"
    parameter_name = "ratification"

    def lookups(self, request, model_admin):
        return [
            (MINE, "Awaiting my ratification"),
            ("awaiting", "Awaiting ratification"),
            ("timed_out", "Not ratified (timed out)"),
            ("ratified", "Ratified"),
            ("rejected", "Rejected"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        awaiting = queryset.filter(state=Ratification.AWAITING)
        value = self.value()
        if value == MINE:
            return queryset.filter(request__in=break_glass_awaiting_for(request.user).values("pk"))
        return {
            "awaiting": awaiting.filter(deadline__gt=now),
            "timed_out": awaiting.filter(deadline__lte=now),
            "ratified": queryset.filter(state=Ratification.RATIFIED),
            "rejected": queryset.filter(state=Ratification.REJECTED),
        }.get(value, queryset)


def _decide(verdict: str):
    verb = "Reject" if verdict == REJECT else "Ratify"
    done_word = PAST[verdict]

    def action(modeladmin, request: HttpRequest, queryset: QuerySet):
        uses = list(queryset.select_related("request__user", "user").order_by("deadline"))
        form = RatifyForm(request.POST if request.POST.get("post") == "yes" else None)
        if form.is_bound and form.is_valid():
            done = 0
            for glass in uses:
                label = display.request_label(glass.request)
                try:
                    break_glass_decide(
                        request_id=glass.request_id,
                        reviewer=request.user,
                        verdict=verdict,
                        reason=form.cleaned_data["reason"],
                    )
                except DomainError as err:
                    messages.error(request, f"{label}: not {done_word}: {err.message}.")
                    continue
                done += 1
                messages.success(request, f"{label}: {done_word}.")
            level = messages.SUCCESS if done == len(uses) else messages.WARNING
            modeladmin.message_user(request, f"{done} of {len(uses)} {done_word}.", level)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"{verb} break-glass access",
            "opts": modeladmin.model._meta,
            "verb": verb,
            "reject": verdict == REJECT,
            "action_name": f"{verb.lower()}_selected",
            "uses": [
                {
                    "obj": g,
                    "url": display.request_page_url(g.request),
                    "label": display.request_label(g.request),
                }
                for g in uses
            ],  # fmt: skip
            "form": form,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        status = 400 if form.is_bound else 200
        return TemplateResponse(request, CONFIRM_TEMPLATE, context, status=status)

    action.__name__ = f"{verb.lower()}_selected"
    description = (
        "Reject the selected break-glass uses (revoke now, flag the requester)…"
        if verdict == REJECT
        else "Ratify the selected break-glass uses (access runs to its approved end)…"
    )
    return admin.action(description=description, permissions=["ratify"])(action)


@admin.register(BreakGlass)
class BreakGlassAdmin(ReadOnlyAdmin):
    """Break-glass uses of the requests the user may see; ratified or rejected only through
    `break_glass_decide` (the actions)."""

    list_display = [
        "requester",
        "asks_for",
        "reason",
        "status",
        "deadline_column",
        "decided",
        "request_link",
    ]
    list_display_links = None
    list_filter = [RatificationFilter]
    search_fields = ["user__username", "request__reason"]
    actions = [_decide("ratify"), _decide(REJECT)]
    ordering = ["deadline"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BreakGlass]:
        visible = AccessRequest.objects.visible_to(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(request__in=visible)
            .select_related("request__user", "user", "decided_by")
        )

    def has_ratify_permission(self, request: HttpRequest) -> bool:
        """Offered to reviewers; `break_glass_decide` decides per use."""
        return reviews_anything(request)

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        flagged = break_glass_flagged(g.user_id for g in rows)
        for row in rows:
            row.requester_flagged = row.user_id in flagged
        return changelist

    @admin.display(description="requester")
    def requester(self, glass: BreakGlass):
        if getattr(glass, "requester_flagged", False):
            return format_html(
                '{} <span class="ap-badge ap-denied" title="{}">flagged</span>',
                glass.user,
                "a break-glass use of theirs was rejected",
            )
        return str(glass.user)

    @admin.display(description="asks for")
    def asks_for(self, glass: BreakGlass) -> str:
        return ", ".join([*glass.request.roles, *glass.request.resources])

    @admin.display(description="reason")
    def reason(self, glass: BreakGlass) -> str:
        return glass.request.reason

    @admin.display(description="ratification")
    def status(self, glass: BreakGlass):
        status = glass.status_at(timezone.now())
        css = {
            Ratification.RATIFIED: "approved",
            Ratification.REJECTED: "denied",
        }.get(glass.state, "muted" if "timed out" in status else "pending")
        return format_html('<span class="ap-badge ap-{}">{}</span>', css, status)

    @admin.display(description="ratify by", ordering="deadline")
    def deadline_column(self, glass: BreakGlass):
        return display.when(glass.deadline)

    @admin.display(description="decided")
    def decided(self, glass: BreakGlass) -> str:
        if glass.decided_by is None:
            return "—"
        return f"{glass.decided_by}: {glass.decision_reason}"

    @admin.display(description="request")
    def request_link(self, glass: BreakGlass):
        return format_html('<a href="{}">open</a>', display.request_page_url(glass.request))

    def changelist_view(self, request, extra_context=None):
        extra = {"title": "Break-glass uses"}
        return super().changelist_view(request, {**extra, **(extra_context or {})})
