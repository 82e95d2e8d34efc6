"""One-time review links sent in reviewers' emails (requests_app/services/review_links.py).

Imported by `requests_app.models` (so Django finds it). Only a hash of each token is kept:
a database reader cannot rebuild a link.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ReviewLink(models.Model):
    """A signed, expiring link to approve or deny one request, bound to one reviewer, used
    at most once (`used_at`, set by compare-and-swap when the review is submitted)."""

    request = models.ForeignKey(
        "requests_app.AccessRequest", on_delete=models.CASCADE, related_name="review_links"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_links"
    )
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token.")
    created = models.DateTimeField()
    expires = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["request", "reviewer"], name="reviewlink_req_reviewer")]

    def __str__(self) -> str:
        return f"review link for {self.reviewer} on {self.request_id}"
