"""Reviews in admin: a read-only list of the reviews on requests the user may see."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from requests_app.admin import display
from requests_app.admin.base import ReadOnlyAdmin
from requests_app.models import AccessRequest, Review


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    """Reviews on requests the user may see; written only by `review_submit`."""

    list_display = ["request_link", "verdict", "reviewer", "reason", "created"]
    list_display_links = None  # request_link is the link; a wrapping change link nests <a>
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
            '<a href="{}">{}</a>',
            display.request_page_url(obj.request),
            display.request_label(obj.request),
        )

    @admin.display(description="verdict", ordering="state")
    def verdict(self, obj: Review) -> str:
        return display.verdict_badge(obj.state)
