"""Answers kept for `Idempotency-Key` retries of the API's POSTs.

Imported by `requests_app.models` (so Django finds it); written only by
`requests_app.api.idempotency`. One row per user and key: the unique constraint is what
makes two concurrent first attempts with one key do the work once.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """A POST sent with an `Idempotency-Key`: in progress while `status` is null, then the
    answer it got (status, body, the headers that matter), replayed until `expires_at`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    created = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="null: running")
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]

    def __str__(self) -> str:
        return f"idempotency key of user {self.user_id} ({self.status or 'running'})"
