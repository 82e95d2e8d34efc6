"""Roles with their policy documents, resources with labels, and user traits."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Role(models.Model):
    """A named bundle of access; `spec` is its normalized policy (policies_app.documents).

    The spec holds the allow/deny request and review conditions, thresholds, resource reach,
    Django permissions and options of ARCHITECTURE.md. It is written only by the policy
    services, which validate it first.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    spec = models.JSONField(default=dict)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="standing_roles",
        blank=True,
        help_text="Users who hold this role at all times (standing).",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Resource(models.Model):
    """One thing a person may need to reach, `kind/name`, with labels for policy matching."""

    kind = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    labels = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="resource_kind_name_unique")
        ]

    def __str__(self) -> str:
        return self.resource_id

    @property
    def resource_id(self) -> str:
        return f"{self.kind}/{self.name}"


class UserTraits(models.Model):
    """Traits of a user (e.g. `team: [pay]`), visible to predicates as reviewer.traits."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="traits"
    )
    traits = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "user traits"

    def __str__(self) -> str:
        return f"traits of {self.user}"


class NotificationRule(models.Model):
    """Where notifications about matching requests go, besides the people they concern.

    `spec` is normalized by `policies_app.documents.normalize_notification_rule`: the
    events it applies to, an optional predicate on the request (`condition`) and its
    channels (email addresses or users, Slack-compatible webhooks, signed JSON webhooks).
    Like Teleport's access monitoring rules; written only by the policy services.
    """

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    spec = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReviewerProfile(models.Model):
    """A group of users who review alike: one auth Group per distinct (standing role names,
    traits) among active users whose standing roles review anything.

    Eligibility to review depends on exactly those two things (ARCHITECTURE invariant 4),
    so requests carry guardian group permissions per eligible profile instead of one row per
    reviewer. Written only by `policies_app.services.profiles.reviewer_profiles_sync`.
    """

    group = models.OneToOneField(
        "auth.Group", on_delete=models.CASCADE, related_name="reviewer_profile"
    )
    key = models.CharField(max_length=64, unique=True)  # sha256 of the canonical definition
    roles = models.JSONField(default=list)
    traits = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return self.group.name
