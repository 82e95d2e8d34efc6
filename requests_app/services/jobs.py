"""Work for the Celery workers, queued once the transaction that asked for it commits.

Queueing is best effort by design (invariant 7): the work itself is recorded in the
database (a pending request's `expires`, a grant's window, an outbox row), and the periodic
sweeps (`accessportal.celery`, beat) find anything whose message was never sent. A broker
outage is logged and never fails or rolls back the change that asked for the work, and a
hung broker holds it up for at most WORKER_PUBLISH_TIMEOUT (services/publisher.py).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from requests_app.services.publisher import publish_with_deadline

logger = logging.getLogger(__name__)


def _send(task_name: str, eta: datetime | None, kwargs: dict) -> None:
    # Imported here: tasks import the services, not the other way round.
    from requests_app import tasks

    if eta is not None and eta <= timezone.now():
        eta = None
    task = getattr(tasks, task_name)
    if task.app.conf.task_always_eager:  # runs the task here, in this thread and transaction
        try:
            task.apply_async(kwargs=kwargs, eta=eta)
        except Exception:
            logger.warning(
                "%s(%s) failed; the periodic sweep will redo it", task_name, kwargs, exc_info=True
            )
        return
    # A hung broker holds the caller up for at most WORKER_PUBLISH_TIMEOUT.
    publish_with_deadline(
        lambda: task.apply_async(kwargs=kwargs, eta=eta), f"{task_name}({kwargs})"
    )


def job_after_commit(task_name: str, *, eta: datetime | None = None, **kwargs: object) -> bool:
    """Queue `requests_app.tasks.<task_name>(**kwargs)` after commit (at once outside one).

    `eta` runs it at that time. Work due further ahead than `WORKER_ETA_HORIZON` is not
    queued (brokers hold ETA messages in worker memory, and Redis redelivers them after its
    visibility timeout): the sweeps do it, at most one sweep interval late. Returns whether
    a message will be sent. kwargs must be JSON-serialisable (ids, not objects).
    """
    if eta is not None and eta - timezone.now() > timedelta(seconds=settings.WORKER_ETA_HORIZON):
        return False
    transaction.on_commit(lambda: _send(task_name, eta, kwargs), robust=True)
    return True


def request_schedule_expiry(request) -> None:
    """A new PENDING request: apply the review rules once it commits, expire it at its
    pending TTL."""
    job_after_commit("apply_review_rules", request_id=str(request.id))
    job_after_commit("expire_request", eta=request.expires, request_id=str(request.id))


def request_schedule_access(request) -> None:
    """An approved request: start its access (if later), warn before the end, record the end."""
    starts, expires = request.access_starts, request.access_expires
    if starts is None or expires is None:
        return
    if starts > timezone.now():
        job_after_commit("activate_request_grants", eta=starts, request_id=str(request.id))
    lead = timedelta(seconds=settings.ACCESS_EXPIRY_WARNING)
    if expires - starts > lead:
        job_after_commit("warn_ending_grants", eta=expires - lead)
    job_after_commit("end_due_grants", eta=expires)
