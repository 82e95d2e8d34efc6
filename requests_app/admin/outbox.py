"""The notification outbox in Django admin: read-only, with dead letters and "retry now".

Messages and their deliveries are written only by the outbox services; the one action here
goes through `services.notifications.outbox_retry`, which checks the permission and audits.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib import admin
from django.db.models import Count, Q

from accessportal.kernel.choices import OutboxState
from requests_app.admin.base import queue_action
from requests_app.models import NotificationDelivery, OutboxMessage
from requests_app.services.notifications import outbox_retry


def redact(target: str) -> str:
    """Webhook URLs often carry a token (Slack's do): show scheme, host and a path stub."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.path.strip("/") else target


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = NotificationDelivery
    extra = 0
    can_delete = False
    fields = [
        "channel",
        "destination",
        "rule",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    readonly_fields = fields

    @admin.display(description="destination")
    def destination(self, obj):
        return redact(obj.target)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created",
        "event",
        "recipient_list",
        "state",
        "attempts",
        "delivery_count",
        "sent_at",
        "short_error",
    ]
    list_filter = ["state", "event"]
    search_fields = ["event", "request__id", "last_error"]
    date_hierarchy = "created"
    ordering = ["-created", "-id"]
    fields = [
        "event",
        "request",
        "recipients",
        "payload",
        "state",
        "attempts",
        "last_error",
        "created",
        "routed_at",
        "sent_at",
    ]
    readonly_fields = fields
    inlines = [DeliveryInline]
    actions = ["retry_now"]
    list_select_related = ["request"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _deliveries=Count("deliveries"),
                _dead=Count("deliveries", filter=Q(deliveries__state=OutboxState.DEAD)),
            )
        )

    @admin.display(description="recipients")
    def recipient_list(self, obj):
        return ", ".join(obj.recipients)

    @admin.display(description="deliveries", ordering="_deliveries")
    def delivery_count(self, obj):
        return f"{obj._deliveries} ({obj._dead} dead)" if obj._dead else obj._deliveries

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error if len(obj.last_error) <= 80 else obj.last_error[:79] + "…"

    def has_retry_permission(self, request):
        return request.user.has_perm("requests_app.change_outboxmessage")

    retry_now = queue_action(
        description="Retry now (dead letters and waiting deliveries)",
        permission="retry",
        queue=lambda ids, actor: outbox_retry(message_ids=ids, actor=actor),
        done="{count} notification(s) queued to be sent again.",
        nothing="Nothing to retry: those notifications were sent.",
    )
