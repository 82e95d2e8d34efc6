"""Celery tasks of access reviews: the beat sweep (settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from campaigns_app.services import access_reviews_due as sweep
from requests_app.tasks import RETRY


@shared_task(**RETRY)
def access_reviews_due() -> dict[str, int]:
    """Start scheduled reviews, send reminders, close runs past their deadline: idempotent
    (one run per schedule slot, reminders and closes taken under locks)."""
    return sweep()
