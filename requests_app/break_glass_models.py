"""Break-glass ratification: the after-the-fact review of emergency access.

Imported by `requests_app.models` (so Django finds it); written only by
`requests_app.services.break_glass`. The request itself is an ordinary AccessRequest,
approved at once by its requester; this row holds the ratification that must follow.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Ratification(models.TextChoices):
    """Where a break-glass use stands. Timed out is not a state: it is AWAITING past its
    deadline (the access ended at the deadline, with no worker needed)."""

    AWAITING = "AWAITING", "Awaiting ratification"
    RATIFIED = "RATIFIED", "Ratified"
    REJECTED = "REJECTED", "Rejected"


class BreakGlass(models.Model):
    """One break-glass use: its request, the deadline its access is capped at until
    ratified, the window ratification restores, and the verdict of an eligible reviewer.

    At most one AWAITING row per user (a database constraint): a user with an unratified
    break-glass cannot start another. A REJECTED row flags its requester.
    """

    request = models.OneToOneField(
        "requests_app.AccessRequest",
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="break_glass",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="break_glass_uses"
    )
    state = models.CharField(
        max_length=16, choices=Ratification.choices, default=Ratification.AWAITING
    )
    created = models.DateTimeField()
    deadline = models.DateTimeField(help_text="Access ends here unless ratified before.")
    window_expires = models.DateTimeField(
        help_text="The end of the approved window, which ratification restores."
    )
    notify = models.JSONField(default=list, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["deadline"]
        verbose_name = "break-glass use"
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(state="AWAITING"),
                name="break_glass_one_awaiting_per_user",
            )
        ]
        indexes = [
            models.Index(
                fields=["deadline"], name="break_glass_awaiting", condition=Q(state="AWAITING")
            )
        ]

    def __str__(self) -> str:
        return f"break-glass {self.request_id} ({self.get_state_display()})"

    def timed_out_at(self, at) -> bool:
        """AWAITING past its deadline: nobody ratified it in time; its access ended."""
        return self.state == Ratification.AWAITING and self.deadline <= at

    def status_at(self, at) -> str:
        """What people are shown: ratified, rejected, awaiting, or not ratified (timed out)."""
        if self.timed_out_at(at):
            return "not ratified (timed out)"
        if self.decided_at and self.decided_at >= self.deadline:
            return f"{self.get_state_display().lower()} after its deadline (access had ended)"
        return self.get_state_display().lower()
