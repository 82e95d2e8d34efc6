"""Heartbeats of the background processes, read by /readyz (requests_app/health)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from requests_app.models import Heartbeat

WORKER = "worker"
BEAT = "beat"


@transaction.atomic
def heartbeat_record(*, names: Iterable[str], at: datetime | None = None) -> None:
    """Upsert each named heartbeat's `last_seen` to `at` (now by default).

    Not audited: a heartbeat records that a process is alive, not a change anyone made, and
    one event per beat tick would bury the audit log.
    """
    at = at or timezone.now()
    for name in names:
        Heartbeat.objects.update_or_create(name=name, defaults={"last_seen": at})
