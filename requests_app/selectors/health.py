"""Reads behind /readyz: heartbeats and the notification backlog (requests_app/health)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Min

from accessportal.kernel.choices import OutboxState
from requests_app.models import Heartbeat, NotificationDelivery, OutboxMessage


def heartbeats_last_seen() -> dict[str, datetime]:
    """Each heartbeat's last time, by name (one query)."""
    return dict(Heartbeat.objects.values_list("name", "last_seen"))


def outbox_backlog(*, now: datetime, limit: int) -> int:
    """Notification work due now, counted up to `limit + 1` (so the cost stays bounded
    however long the queue): deliveries pending whose next attempt has come, plus messages
    no worker has yet routed into deliveries. Deliveries waiting out a retry's backoff are
    not due; dead letters are not pending (admin lists them). Two queries, on the
    `delivery_pending_due` and `outbox_pending` partial indexes."""
    due = NotificationDelivery.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
    unrouted = OutboxMessage.objects.filter(state=OutboxState.PENDING, routed_at=None)
    counted = due.values("pk")[: limit + 1].count()
    return counted + unrouted.values("pk")[: limit + 1 - counted].count()


def outbox_oldest_undelivered() -> datetime | None:
    """When the oldest message not yet delivered everywhere was written (one query)."""
    return OutboxMessage.objects.filter(state=OutboxState.PENDING).aggregate(at=Min("created"))[
        "at"
    ]
