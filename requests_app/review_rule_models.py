"""That the review rules were applied to a request (README "Review rules").

Imported by `requests_app.models` (so Django finds it); written only by
`requests_app.services.review_rules`. One row per request, written in the transaction that
decided (a review, or nothing), so the after-commit job and the sweep never apply the rules
to one request twice.
"""

from __future__ import annotations

from django.db import models


class ReviewRuleCheck(models.Model):
    """The review rules were evaluated for `request` at `checked_at`: `rule` is the rule whose
    review was written ("" when none fired or it could not review), `outcome` says what
    happened, `inputs` what each rule read."""

    request = models.OneToOneField(
        "requests_app.AccessRequest",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="review_rule_check",
    )
    checked_at = models.DateTimeField()
    rule = models.CharField(max_length=100, blank=True, default="")
    outcome = models.CharField(max_length=200, blank=True, default="")
    inputs = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return f"{self.request_id}: {self.outcome or 'checked'}"
