"""Enumerations shared by models, services and the API."""

from django.db import models


class RequestState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    APPROVED = "APPROVED", "Approved"
    DENIED = "DENIED", "Denied"
    EXPIRED = "EXPIRED", "Expired"
    WITHDRAWN = "WITHDRAWN", "Withdrawn"
    REVOKED = "REVOKED", "Revoked"


FINAL_STATES = frozenset(
    {RequestState.DENIED, RequestState.EXPIRED, RequestState.WITHDRAWN, RequestState.REVOKED}
)


class ReviewState(models.TextChoices):
    APPROVED = "APPROVED", "Approve"
    DENIED = "DENIED", "Deny"


class OutboxState(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    DEAD = "DEAD", "Dead letter"
