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
    answer it got (status, body, the headers that matter), replayed until `expires_at`.

    `committed_status` is written in the transaction of the POST's service, so it is there
    iff the work committed: with it and no answer stored (the process died, or answered a
    5xx, after the commit) a retry answers from `resource` as it is now, never does the
    work again; without it the key may be freed, nothing was done."""

    # No index of its own: the (user, key) unique index starts with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    created = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="null: running")
    body = models.JSONField(null=True, blank=True)
    body_kept = models.BooleanField(
        default=False, help_text="false: the body was not kept (a secret), the replay redoes it"
    )
    committed_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="the work committed; the status its answer has"
    )
    resource = models.CharField(
        max_length=64, blank=True, help_text="the id of what the committed work answers with"
    )
    headers = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key")]
        indexes = [models.Index(fields=["expires_at"], name="idempotency_expires")]

    def __str__(self) -> str:
        return f"idempotency key of user {self.user_id} ({self.status or 'running'})"
