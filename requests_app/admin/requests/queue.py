"""The reviewer's "Pending for me" queue, and whether a staff user is shown it at all."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.admin.requests.bulk import approve_selected, deny_selected
from requests_app.admin.requests.columns import RequestColumns
from requests_app.models import PendingRequest
from requests_app.selectors import requests_needing_review
from requests_app.selectors import reviews_anything as user_reviews_anything
from requests_app.services.windows import access_windows


def reviews_anything(request: HttpRequest) -> bool:
    """Whether the admin shows this staff user the review queue: `selectors.reviews_anything`
    (the one "is a reviewer" rule), cached for this HTTP request."""
    if not hasattr(request, "_ap_reviews_anything"):
        user = request.user
        request._ap_reviews_anything = bool(user.is_staff and user_reviews_anything(user))
    return request._ap_reviews_anything


@admin.register(PendingRequest)
class PendingRequestAdmin(RequestColumns, ReadOnlyAdmin):
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

    def has_review_permission(self, request: HttpRequest) -> bool:
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
        return HttpResponseRedirect(display.request_page_url(obj))

    def changelist_view(self, request, extra_context=None):
        extra = {"all_requests_url": reverse("admin:requests_app_accessrequest_changelist")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})
