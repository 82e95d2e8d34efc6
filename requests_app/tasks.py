"""Celery tasks: thin wrappers that call one domain service each.

Every task takes ids (JSON only), returns quietly when there is nothing to do, and is
idempotent: running it twice, or late, changes nothing the second time. Exact-time work is
queued with an ETA after commit (`services.jobs`); the `*_due` sweeps run on Celery beat
(see CELERY_BEAT_SCHEDULE) and catch anything whose message was lost or never sent.
Database hiccups are retried with backoff; delivery failures are retried by the outbox
itself, so they stay visible (and end as dead letters) in the database.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from accessportal.kernel.errors import NotFound
from policies_app.models import ProvisionTarget
from requests_app.services.access_reviews import access_reviews_due as access_reviews_sweep
from requests_app.services.activation import grants_activate_due, grants_activate_for
from requests_app.services.audit_anchors import (
    AnchorError,
    AnchorNotConfigured,
    audit_anchor_take,
)
from requests_app.services.escalation import access_requests_remind_due
from requests_app.services.grants import grants_end_due
from requests_app.services.heartbeats import BEAT, WORKER, heartbeat_record
from requests_app.services.notifications import outbox_dispatch, outbox_messages_due
from requests_app.services.provisioning.reconcile import (
    ReconcileFailed,
    provision_reconcile_target,
)
from requests_app.services.provisioning.reconcile import provision_reconcile as reconcile
from requests_app.services.provisioning.worker import provision_due as provisions_due
from requests_app.services.provisioning.worker import provision_run
from requests_app.services.reminders import grants_warn_ending
from requests_app.services.resolution import access_request_expire, access_requests_expire_due
from requests_app.services.retention import retention_purge
from requests_app.services.review_rules import review_rules_apply, review_rules_due
from requests_app.services.visibility import reviewer_permissions_rebuild

logger = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**RETRY)
def expire_request(request_id: str) -> bool:
    """Expire one pending request at its TTL (queued with an ETA when it is created)."""
    try:
        return access_request_expire(request_id=request_id)
    except NotFound:
        return False


@shared_task(**RETRY)
def apply_review_rules(request_id: str) -> str:
    """Apply the review rules to a request once its creation committed (README "Review
    rules"); a second run changes nothing."""
    try:
        return review_rules_apply(request_id=request_id)
    except NotFound:
        return "not found"


@shared_task(**RETRY)
def apply_due_review_rules() -> int:
    """Sweep: requests whose review-rule job was lost."""
    return review_rules_due()


@shared_task(**RETRY)
def expire_due_requests() -> int:
    """Sweep: expire every pending request past its TTL."""
    return access_requests_expire_due()


@shared_task(**RETRY)
def activate_request_grants(request_id: str) -> int:
    """Start one approved request's scheduled access, re-checking policy (ETA: its start)."""
    return grants_activate_for(request_id=request_id)


@shared_task(**RETRY)
def activate_due_grants() -> int:
    """Sweep: start every scheduled grant whose start has come."""
    return grants_activate_due()


@shared_task(**RETRY)
def end_due_grants() -> int:
    """Record the end of every grant whose window closed (ETA: an approved request's end)."""
    return grants_end_due()


@shared_task(**RETRY)
def warn_ending_grants() -> int:
    """Warn requesters whose access ends within ACCESS_EXPIRY_WARNING, once per grant."""
    return grants_warn_ending()


@shared_task(**RETRY)
def remind_pending_requests() -> int:
    """Sweep: send each reminder or escalation tier that came due on a pending request."""
    return access_requests_remind_due()


@shared_task(**RETRY)
def resync_request_permissions() -> int:
    """Recompute who may see and review pending requests (guardian rows) from policy, and
    remove review rows left on finished ones."""
    return reviewer_permissions_rebuild()


@shared_task(**RETRY)
def dispatch_outbox_message(message_id: int) -> int:
    """Send one outbox message's due deliveries (queued after the commit that wrote it)."""
    return outbox_dispatch(message_id=message_id)


@shared_task(**RETRY)
def dispatch_due_notifications() -> int:
    """Sweep: fan out every message with work (unrouted, or a due delivery) to workers."""
    due = outbox_messages_due()
    for message_id in due:
        dispatch_outbox_message.delay(message_id)
    return len(due)


@shared_task(**RETRY)
def retention_purge_due() -> int:
    """Periodic (RETENTION_PURGE_INTERVAL, only when RETENTION_PURGE_AFTER_DAYS is set): purge
    reasons and notification bodies past the period. Returns how many values were purged."""
    return retention_purge().purged


@shared_task(**RETRY)
def dispatch_audit_anchor() -> int | None:
    """Periodic (AUDIT_ANCHOR_INTERVAL): sign an anchor of the audit chain head and send it
    to the anchor file and webhook. Returns the anchored sequence number, or None."""
    try:
        result = audit_anchor_take()
    except AnchorNotConfigured as err:
        logger.warning("audit anchors are off: %s", err)
        return None
    except AnchorError as err:
        logger.error("no audit anchor taken: %s", err)
        return None
    for failure in result.failures:
        # The next anchor goes out at the next interval; `manage.py audit_anchor` sooner.
        logger.error("audit anchor #%s not delivered to %s", result.anchor.seq, failure)
    return result.anchor.seq


@shared_task
def heartbeat(sent_by: str = "") -> None:
    """Periodic (HEALTH_HEARTBEAT_INTERVAL): a worker ran this, so record `worker`; and
    when beat sent it (the schedule entry passes sent_by="beat"), record `beat` too. The
    entry expires after one interval, so beat sent it at most that long ago. Not retried:
    the next one comes at the next interval (docs/operations.md)."""
    heartbeat_record(names=[WORKER, BEAT] if sent_by == BEAT else [WORKER])


@shared_task(**RETRY)
def provision_assignment(assignment_id: int) -> str:
    """Grant or revoke one (user, target) assignment (queued after the commit that changed
    it); "" when it is settled, not due, or another worker holds it."""
    return provision_run(assignment_id=assignment_id)


@shared_task(**RETRY)
def provision_due() -> int:
    """Sweep (PROVISION_SWEEP_INTERVAL): run every unsettled assignment that is due (a lost
    message, a retry after backoff, a worker killed mid-call)."""
    due = provisions_due()
    for assignment_id in due:
        provision_assignment.delay(assignment_id)
    return len(due)


@shared_task(**RETRY)
def provision_reconcile() -> dict:
    """Periodic (PROVISION_RECONCILE_INTERVAL): compare every target's members with what
    should be and repair the drift; returns {"repairs": n, "failed": [target ids]}."""
    report = reconcile()
    return {"repairs": sum(report.repairs.values()), "failed": sorted(report.errors)}


@shared_task(**RETRY)
def provision_reconcile_one(target_id: int) -> int | None:
    """Reconcile one target now (an operator's "reconcile now", queued after the commit that
    recorded the request); its repairs, or None when it is gone or could not be read (the
    error is recorded on the target)."""
    try:
        return provision_reconcile_target(target_id=target_id)
    except (ReconcileFailed, ProvisionTarget.DoesNotExist):
        return None


@shared_task(**RETRY)
def access_reviews_due() -> dict[str, int]:
    """Periodic (WORKER_SWEEP_INTERVAL): start scheduled access reviews, send reminders,
    close runs past their deadline; idempotent (one run per schedule slot, reminders and
    closes taken under locks)."""
    return access_reviews_sweep()
