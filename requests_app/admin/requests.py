"""Access requests in admin: the "Pending for me" queue, every visible request, the request
page with its Approve / Deny / Revoke forms, and bulk review actions.

Every decision calls a domain service (`review_submit`, `access_request_revoke`), which
checks the caller's right under the request lock; domain errors become messages or form
errors with their HTTP status, never a 500.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.admin.details import request_page_context
from requests_app.admin.forms import BulkReviewForm, ReviewForm, RevokeForm
from requests_app.admin.permissions import object_permissions_context
from requests_app.choices import RequestState, ReviewState
from requests_app.errors import DomainError
from requests_app.models import AccessRequest, PendingRequest, Review
from requests_app.selectors import requests_needing_review
from requests_app.selectors import reviews_anything as user_reviews_anything
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_reason_required, review_submit
from requests_app.services.windows import access_window, access_windows

PAGE_TEMPLATE = "admin/requests_app/accessrequest/request_page.html"
PERMISSIONS_TEMPLATE = "admin/requests_app/accessrequest/permissions.html"
BULK_TEMPLATE = "admin/requests_app/accessrequest/bulk_review.html"


def reviews_anything(request: HttpRequest) -> bool:
    """Whether the admin shows this staff user the review queue: `selectors.reviews_anything`
    (the one "is a reviewer" rule), cached for this HTTP request."""
    if not hasattr(request, "_ap_reviews_anything"):
        user = request.user
        request._ap_reviews_anything = bool(user.is_staff and user_reviews_anything(user))
    return request._ap_reviews_anything


def request_page_url(obj: AccessRequest) -> str:
    return reverse("admin:requests_app_accessrequest_change", args=[obj.pk])


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def outcome_message(obj: AccessRequest, verdict: str) -> str:
    """What happened after one review, in one sentence a reviewer can act on."""
    label = display.request_label(obj)
    verb = "approved" if verdict == ReviewState.APPROVED else "denied"
    if obj.state == RequestState.APPROVED:
        return (
            f"You approved {label}. The request is approved: access from "
            f"{_when(obj.access_starts)} until {_when(obj.access_expires)}."
        )
    if obj.state == RequestState.DENIED:
        return f"You {verb} {label}. The request is denied."
    rows = display.progress_rows(obj, obj.reviews.all())
    return f"You {verb} {label}. Still pending: {'; '.join(r['text'] for r in rows)}."


def review_one(request: HttpRequest, obj: AccessRequest, verdict: str, reason: str) -> bool:
    """Review one request through the service and report it as a message; True if done."""
    label = display.request_label(obj)
    try:
        updated = review_submit(
            request_id=obj.pk, reviewer=request.user, state=verdict, reason=reason
        )
    except DomainError as err:
        messages.error(request, f"{label}: not reviewed: {err.message}.")
        return False
    messages.success(request, outcome_message(updated, verdict))
    return True


def _bulk_review(modeladmin, request: HttpRequest, queryset: QuerySet, verdict: str):
    """Confirm the selection and ask for one reason; then review each request in turn."""
    queryset = queryset.select_related("user").prefetch_related("reviews").order_by("created")
    action = "approve_selected" if verdict == ReviewState.APPROVED else "deny_selected"
    if request.POST.get("post") == "yes":
        form = BulkReviewForm(request.POST)
        if form.is_valid():
            done = sum(
                review_one(request, obj, verdict, form.cleaned_data["reason"]) for obj in queryset
            )
            total = queryset.count()
            level = messages.SUCCESS if done == total else messages.WARNING
            modeladmin.message_user(request, f"{done} of {total} requests reviewed.", level)
            return None
    else:
        form = BulkReviewForm()
    rows = [
        {
            "obj": obj,
            "url": request_page_url(obj),
            "items": display.items(obj),
            "reason_required": review_reason_required(obj),
            "progress": display.progress_html(obj, obj.reviews.all()),
        }
        for obj in queryset
    ]
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{'Approve' if verdict == ReviewState.APPROVED else 'Deny'} "
        f"{len(rows)} request{'s' if len(rows) != 1 else ''}",
        "opts": modeladmin.model._meta,
        "rows": rows,
        "form": form,
        "action": action,
        "verdict": verdict,
        "approve": verdict == ReviewState.APPROVED,
        "any_reason_required": any(r["reason_required"] for r in rows),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, BULK_TEMPLATE, context, status=400 if form.is_bound else 200)


@admin.action(description="Approve selected requests…")
def approve_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.APPROVED)


@admin.action(description="Deny selected requests…")
def deny_selected(modeladmin, request, queryset):
    return _bulk_review(modeladmin, request, queryset, ReviewState.DENIED)


class ScopeFilter(SimpleListFilter):
    title = "whose"
    parameter_name = "scope"

    def lookups(self, request, model_admin):
        return [
            ("needs_review", "Waiting for my review"),
            ("mine", "My own requests"),
            ("reviewed", "Reviewed by me"),
        ]

    def queryset(self, request, queryset):
        user = request.user
        if self.value() == "needs_review":
            return queryset.filter(pk__in=requests_needing_review(user).values("pk"))
        if self.value() == "mine":
            return queryset.filter(user=user)
        if self.value() == "reviewed":
            return queryset.filter(reviews__reviewer=user)
        return queryset


class _RequestColumns:
    """Columns shared by the queue and the list of all visible requests."""

    @admin.display(description="requester", ordering="user__username")
    def requester(self, obj: AccessRequest) -> str:
        return format_html(
            '<a class="ap-open" href="{}"><strong>{}</strong></a>',
            request_page_url(obj),
            obj.user.get_username(),
        )

    @admin.display(description="asks for")
    def asks_for(self, obj: AccessRequest) -> str:
        return display.items(obj)

    @admin.display(description="reason")
    def short_reason(self, obj: AccessRequest) -> str:
        if not obj.reason:
            return mark_safe('<span class="ap-muted">none given</span>')
        return Truncator(obj.reason).chars(90)

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj: AccessRequest) -> str:
        return display.state_badge(obj.state)

    @admin.display(description="age", ordering="created")
    def age(self, obj: AccessRequest) -> str:
        return display.since(obj.created)

    @admin.display(description="duration", ordering="requested_duration")
    def duration(self, obj: AccessRequest) -> str:
        asked = display.duration(obj.requested_duration)
        if obj.max_duration < obj.requested_duration:
            return format_html(
                '{} <span class="ap-muted">(capped to {})</span>',
                asked,
                display.duration(obj.max_duration),
            )
        return asked

    @admin.display(description="starts", ordering="assume_start_time")
    def starts(self, obj: AccessRequest) -> str:
        """When access would start if approved now (`windows.access_windows`; the queue
        computes a page's windows at once in `get_changelist_instance`)."""
        window = getattr(obj, "access_window", None) or access_window(obj, timezone.now())
        if window.extends_current:
            return format_html(
                '{} <span class="ap-muted">(extension: when the current access ends)</span>',
                _when(window.starts),
            )
        if window.planned and window.starts_on_approval:
            return mark_safe('<span class="ap-muted">on approval</span>')
        return _when(window.starts)

    @admin.display(description="time left", ordering="expires")
    def time_left(self, obj: AccessRequest) -> str:
        left = (obj.expires - timezone.now()).total_seconds()
        css = "ap-urgent" if left < 3600 else ""
        return format_html('<span class="{}">{}</span>', css, display.until(obj.expires))

    @admin.display(description="progress")
    def progress(self, obj: AccessRequest) -> str:
        return display.progress_html(obj, obj.reviews.all())


@admin.register(AccessRequest)
class AccessRequestAdmin(_RequestColumns, ReadOnlyAdmin):
    """Every request the user may see; its change page is the request page."""

    list_display = ["requester", "asks_for", "short_reason", "state_badge", "age", "review_count"]
    list_display_links = None
    list_filter = [ScopeFilter, "state"]
    search_fields = ["user__username", "reason"]
    actions = [approve_selected, deny_selected]
    ordering = ["-created"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccessRequest]:
        return (
            AccessRequest.objects.visible_to(request.user)
            .select_related("user")
            .annotate(review_total=Count("reviews"))
        )

    def changelist_view(self, request, extra_context=None):
        title = {"title": "Access requests you can see"}
        return super().changelist_view(request, {**title, **(extra_context or {})})

    @admin.display(description="reviews", ordering="review_total")
    def review_count(self, obj: AccessRequest) -> int:
        return obj.review_total

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/review/",
                view(self.review_view),
                name="requests_app_accessrequest_review",
            ),
            path(
                "<path:object_id>/revoke/",
                view(self.revoke_view),
                name="requests_app_accessrequest_revoke",
            ),
            path(
                "<path:object_id>/permissions/",
                view(self.permissions_view),
                name="requests_app_accessrequest_permissions",
            ),
            *super().get_urls(),
        ]

    # -- the request page -----------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.visible_object(request, object_id)
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # read-only: decisions post to review/ and revoke/
        return self.render_request_page(request, obj)

    def render_request_page(
        self,
        request: HttpRequest,
        obj: AccessRequest,
        *,
        review_form: ReviewForm | None = None,
        revoke_form: RevokeForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            **request_page_context(obj, request.user),
            "opts": self.model._meta,
            "title": f"{obj.user.get_username()} asks for {display.items_text(obj)}",
            "items_html": display.items(obj),
            "review_form": review_form or ReviewForm(reason_required=review_reason_required(obj)),
            "revoke_form": revoke_form or RevokeForm(),
            "review_url": reverse("admin:requests_app_accessrequest_review", args=[obj.pk]),
            "revoke_url": reverse("admin:requests_app_accessrequest_revoke", args=[obj.pk]),
            "permissions_url": reverse(
                "admin:requests_app_accessrequest_permissions", args=[obj.pk]
            ),
            "queue_url": reverse("admin:requests_app_pendingrequest_changelist"),
            "has_queue": reviews_anything(request),
        }
        return TemplateResponse(request, PAGE_TEMPLATE, context, status=status)

    def permissions_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: who may see and review the request, and why (read-only: a projection)."""
        obj = self.visible_object(request, object_id)
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **object_permissions_context(obj),
            "opts": self.model._meta,
            "req": obj,
            "title": "Who may see and review this",
            "request_url": reverse("admin:requests_app_accessrequest_change", args=[obj.pk]),
        }
        return TemplateResponse(request, PERMISSIONS_TEMPLATE, context)

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: one review by the caller, through `review_submit`."""
        obj = self.visible_object(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = ReviewForm(request.POST, reason_required=review_reason_required(obj))
        if not form.is_valid():
            return self.render_request_page(request, obj, review_form=form, status=400)
        verdict = form.cleaned_data["decision"]
        try:
            updated = review_submit(
                request_id=obj.pk,
                reviewer=request.user,
                state=verdict,
                reason=form.cleaned_data["reason"],
            )
        except DomainError as err:
            if err.field == "reason":
                form.add_error("reason", err.message)
            else:
                messages.error(request, f"Not reviewed: {err.message}.")
            obj.refresh_from_db()
            return self.render_request_page(request, obj, review_form=form, status=err.status)
        messages.success(request, outcome_message(updated, verdict))
        return HttpResponseRedirect(request_page_url(obj))

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: end an approved request's access now, through `access_request_revoke`."""
        obj = self.visible_object(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        form = RevokeForm(request.POST)
        if not form.is_valid():
            return self.render_request_page(request, obj, revoke_form=form, status=400)
        try:
            access_request_revoke(
                request_id=obj.pk, actor=request.user, reason=form.cleaned_data["reason"]
            )
        except DomainError as err:
            messages.error(request, f"Not revoked: {err.message}.")
            obj.refresh_from_db()
            return self.render_request_page(request, obj, revoke_form=form, status=err.status)
        messages.success(request, f"Access of {display.request_label(obj)} revoked.")
        return HttpResponseRedirect(request_page_url(obj))


@admin.register(PendingRequest)
class PendingRequestAdmin(_RequestColumns, ReadOnlyAdmin):
    """The reviewer's queue: only requests they may review and have not, oldest first.

    Shown only to staff whose standing roles review something; the rows are
    `requests_needing_review(user)`, the same object permissions as the API.
    """

    list_display = [
        "requester",
        "asks_for",
        "short_reason",
        "duration",
        "starts",
        "age",
        "time_left",
        "progress",
    ]
    list_display_links = None
    search_fields = ["user__username", "reason"]
    actions = [approve_selected, deny_selected]
    ordering = ["created"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return reviews_anything(request)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return reviews_anything(request)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingRequest]:
        needing = requests_needing_review(request.user)
        return (
            PendingRequest.objects.filter(pk__in=needing.values("pk"))
            .select_related("user", "extends")
            .prefetch_related("reviews")
            .order_by("created")
        )

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        windows = access_windows(rows, timezone.now())
        for row in rows:
            row.access_window = windows[row.pk]
        return changelist

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.visible_object(request, object_id)
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        return HttpResponseRedirect(request_page_url(obj))

    def changelist_view(self, request, extra_context=None):
        extra = {"all_requests_url": reverse("admin:requests_app_accessrequest_changelist")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Reviews on requests the user may see; written only by `review_submit`."""

    list_display = ["request_link", "reviewer", "verdict", "reason", "created"]
    list_filter = ["state"]
    search_fields = ["reviewer__username", "reason"]
    date_hierarchy = "created"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Review]:
        visible = AccessRequest.objects.visible_to(request.user).values("pk")
        return (
            super()
            .get_queryset(request)
            .filter(request__in=visible)
            .select_related("request__user", "reviewer")
        )

    @admin.display(description="request")
    def request_link(self, obj: Review) -> str:
        return format_html(
            '<a href="{}">{}</a>', request_page_url(obj.request), display.request_label(obj.request)
        )

    @admin.display(description="verdict", ordering="state")
    def verdict(self, obj: Review) -> str:
        return display.verdict_badge(obj.state)
