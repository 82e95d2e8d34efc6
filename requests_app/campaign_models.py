"""Access review runs and their items (README "Access reviews").

A run is one start of a `policies_app.AccessReview` definition, its spec snapshotted; an
item is one (user, role) standing membership in scope at the start, with the reviewers
snapshotted too. Imported by `requests_app.models`
(so Django finds them); written only by `requests_app.services.access_reviews`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class CampaignRun(models.Model):
    """One start of an access review: its items are decided until `deadline`, then the
    deadline sweep applies `spec.on_missed` to the undecided ones and closes it."""

    class State(models.TextChoices):
        OPEN = "OPEN", "open"
        CLOSED = "CLOSED", "closed"

    review = models.ForeignKey(
        "policies_app.AccessReview", on_delete=models.SET_NULL, null=True, related_name="runs"
    )
    name = models.CharField(max_length=100)  # the definition's name, kept if it is deleted
    spec = models.JSONField(default=dict)  # the definition's spec at the start
    # The schedule slot this run is for (scheduled runs; null when started by hand): unique
    # with the name, so two beat ticks, or two beats, start one run.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started = models.DateTimeField()
    started_by = models.CharField(max_length=255)  # a user name, or "system:access-reviews"
    deadline = models.DateTimeField()
    reminded_at = models.DateTimeField(null=True, blank=True)  # the pre-deadline reminder
    # Who reviews every item of the run (each item's member excepted), snapshotted at the
    # start: one row per reviewer per run, not per item (1,000 members reviewed by the
    # 1,000 holders of one role are 1,000 rows, not a million).
    reviewers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="access_review_runs_to_review", blank=True
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    closed = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started", "-id"]
        verbose_name = "access review run"
        constraints = [
            models.UniqueConstraint(
                fields=["name", "scheduled_for"],
                condition=Q(scheduled_for__isnull=False),
                name="campaign_run_one_per_slot",
            )
        ]
        indexes = [
            models.Index(fields=["deadline"], name="campaign_open", condition=Q(state="OPEN"))
        ]
        permissions = [("start_campaignrun", "Can start an access review run")]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class CampaignItem(models.Model):
    """One standing membership under review: kept or removed once, with a reason, by one of
    its run's reviewers who is not the member; or settled by `on_missed` at the deadline."""

    class Decision(models.TextChoices):
        KEEP = "KEEP", "keep"
        REMOVE = "REMOVE", "remove"

    class Outcome(models.TextChoices):
        OPEN = "", "undecided"
        KEPT = "kept", "kept"
        REMOVED = "removed", "removed"
        GONE = "gone", "already gone when removed"
        MISSED_KEPT = "missed_kept", "missed: kept"
        MISSED_NOTIFIED = "missed_notified", "missed: kept, people told"
        MISSED_REMOVED = "missed_removed", "missed: removed"

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="items")
    # PROTECT, as for access requests: a review's history is evidence, never deleted with
    # its member (deactivate accounts instead).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaign_items"
    )
    role = models.CharField(max_length=100)
    sources = models.JSONField(default=list)  # the membership's sources at the start
    decision = models.CharField(max_length=8, choices=Decision.choices, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    decided_by = models.CharField(
        max_length=255, blank=True, default=""
    )  # user or "system:access-reviews"
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    note = models.TextField(blank=True, default="")  # e.g. the IdP that will give it back

    class Meta:
        ordering = ["run", "role", "user_id"]
        verbose_name = "access review item"
        constraints = [
            models.UniqueConstraint(fields=["run", "user", "role"], name="campaign_item_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} holds {self.role} ({self.run})"
