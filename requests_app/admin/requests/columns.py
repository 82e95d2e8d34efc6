"""The list columns the queue and the list of every visible request share."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from requests_app.admin import display
from requests_app.models import AccessRequest
from requests_app.services.windows import access_window


class RequestColumns:
    """Columns shared by the queue and the list of all visible requests."""

    @admin.display(description="requester", ordering="user__username")
    def requester(self, obj: AccessRequest) -> str:
        return format_html(
            '<a class="ap-open" href="{}"><strong>{}</strong></a>',
            display.request_page_url(obj),
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
                display.when(window.starts),
            )
        if window.planned and window.starts_on_approval:
            return mark_safe('<span class="ap-muted">on approval</span>')
        return display.when(window.starts)

    @admin.display(description="time left", ordering="expires")
    def time_left(self, obj: AccessRequest) -> str:
        left = (obj.expires - timezone.now()).total_seconds()
        css = "ap-urgent" if left < 3600 else ""
        return format_html('<span class="{}">{}</span>', css, display.until(obj.expires))

    @admin.display(description="progress")
    def progress(self, obj: AccessRequest) -> str:
        return display.progress_html(obj, obj.reviews.all())
