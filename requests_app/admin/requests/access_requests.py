"""Every request the user may see, and the request page: its Approve / Deny / Revoke forms.

Every decision calls a domain service (`review_submit`, `access_request_revoke`), which
checks the caller's right under the request lock; domain errors become messages or form
errors with their HTTP status, never a 500.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accessportal.kernel.errors import DomainError
from requests_app.admin import display
from requests_app.admin.base import ExportChangeListMixin, ReadOnlyAdmin
from requests_app.admin.details import request_page_context
from requests_app.admin.forms import ReviewForm, RevokeForm
from requests_app.admin.permissions import object_permissions_context
from requests_app.admin.requests.bulk import approve_selected, deny_selected
from requests_app.admin.requests.columns import RequestColumns
from requests_app.admin.requests.outcomes import outcome_message
from requests_app.admin.requests.queue import reviews_anything
from requests_app.models import AccessRequest
from requests_app.selectors import requests_needing_review
from requests_app.selectors.exports import ExportTooLarge, requests_csv
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_reason_required, review_submit

PAGE_TEMPLATE = "admin/requests_app/accessrequest/request_page.html"
PERMISSIONS_TEMPLATE = "admin/requests_app/accessrequest/permissions.html"


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


@admin.register(AccessRequest)
class AccessRequestAdmin(RequestColumns, ExportChangeListMixin, ReadOnlyAdmin):
    """Every request the user may see; its change page is the request page."""

    # The state right after who: on a phone (390 px) the columns past it scroll out of view,
    # and a state cut in half reads as another state.
    list_display = ["requester", "state_badge", "asks_for", "short_reason", "age", "review_count"]
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

    def has_review_permission(self, request: HttpRequest) -> bool:
        """Approve / Deny selected are offered to reviewers only (`selectors.reviews_anything`):
        an auditor, who sees every request, is never offered an action that cannot succeed."""
        return reviews_anything(request)

    def changelist_view(self, request, extra_context=None):
        title = {
            "title": "Access requests you can see",
            "export_url": reverse("admin:requests_app_accessrequest_export"),
        }
        return super().changelist_view(request, {**title, **(extra_context or {})})

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """GET: the change list's requests (its filters and search) as CSV, every page."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        try:
            return requests_csv(self.export_queryset(request))
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("the list's filters are not valid: open the list again")
        except ExportTooLarge as too_large:
            return HttpResponseBadRequest(too_large.message)

    @admin.display(description="reviews", ordering="review_total")
    def review_count(self, obj: AccessRequest) -> int:
        return obj.review_total

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="requests_app_accessrequest_export"),
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
        return HttpResponseRedirect(display.request_page_url(obj))

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
        return HttpResponseRedirect(display.request_page_url(obj))
