"""Expiring API tokens minted for a CLI sign-in, and the sign-ins in progress.

Imported by `requests_app.models` (so Django finds them); written only by
`requests_app.services.cli_login`. Only SHA-256 digests of keys and codes are stored: they
are long random secrets, so a fast hash is enough and a database dump reveals none of them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """An API token for one CLI session: refused after `expires_at`, once revoked, or when
    its owner is inactive (requests_app.api.authentication)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_via = models.CharField(max_length=32, help_text="cli:loopback or cli:device")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_live")]

    def __str__(self) -> str:
        return f"token of user {self.user_id} via {self.created_via} until {self.expires_at}"


class CliLoginFlow(models.TextChoices):
    LOOPBACK = "loopback", "loopback redirect"
    DEVICE = "device", "device code"


class CliLoginState(models.TextChoices):
    PENDING = "pending"  # device flow: waiting for someone to enter the code
    APPROVED = "approved"  # a signed-in person confirmed; the CLI may exchange it once
    DENIED = "denied"
    USED = "used"  # a token was minted from it


class CliLogin(models.Model):
    """One `accessctl login --sso` in progress. Loopback: created approved, bound to the user
    and the PKCE challenge. Device: created pending with a user code; a person approves it."""

    flow = models.CharField(max_length=16, choices=CliLoginFlow.choices)
    code_hash = models.CharField(max_length=64, unique=True, help_text="of the code or device code")
    user_code = models.CharField(max_length=9, null=True, blank=True, unique=True)
    code_challenge = models.CharField(max_length=64, blank=True, default="")
    port = models.PositiveIntegerField(null=True, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=16, choices=CliLoginState.choices)
    created = models.DateTimeField()
    expires_at = models.DateTimeField()
    interval = models.PositiveIntegerField(default=5, help_text="seconds between polls")
    last_polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="clilogin_expires")]

    def __str__(self) -> str:
        return f"{self.flow} login ({self.state})"
