"""Heartbeats of the background processes, read by /readyz (requests_app/health)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from requests_app.models import Heartbeat

WORKER = "worker"
BEAT = "beat"
# When the audit log was last verified whole, and last found broken (`verify_audit`, the
# admin's "verify" button): the metrics report the newer of the two. Not processes, but the
# same shape (a name and a time), so they share the table rather than add one.
AUDIT_VERIFIED = "audit-verified"
AUDIT_BROKEN = "audit-broken"


@transaction.atomic
def heartbeat_record(*, names: Iterable[str], at: datetime | None = None) -> None:
    """Upsert each named heartbeat's `last_seen` to `at` (now by default).

    Not audited: a heartbeat records that a process is alive, not a change anyone made, and
    one event per beat tick would bury the audit log.
    """
    at = at or timezone.now()
    for name in names:
        Heartbeat.objects.update_or_create(name=name, defaults={"last_seen": at})


def audit_verification_record(*, ok: bool, at: datetime | None = None) -> None:
    """Record the outcome of a verification of the audit log (chain, completeness,
    anchors) for the metrics: `audit-verified` or `audit-broken` is set to `at`."""
    heartbeat_record(names=[AUDIT_VERIFIED if ok else AUDIT_BROKEN], at=at)
