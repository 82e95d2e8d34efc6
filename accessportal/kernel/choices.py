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


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack-compatible webhook"
    WEBHOOK = "webhook", "Signed JSON webhook"


class AuditAction:
    """The actions of the audit events the request services write: each service names its
    event from here, and `services.audit_completeness` checks every row has them."""

    REQUEST_CREATED = "request.created"
    REQUEST_APPROVED = "request.approved"
    REQUEST_DENIED = "request.denied"
    REQUEST_WITHDRAWN = "request.withdrawn"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_REVOKED = "request.revoked"
    REQUEST_REMINDED = "request.reminded"
    REVIEW_LINK_ISSUED = "review_link.issued"
    REVIEW_LINK_USED = "review_link.used"
    REVIEW_SUBMITTED = "review.submitted"
    # A review rule fired but could not review (the requester may no longer ask for it...).
    REVIEW_RULE_REFUSED = "review_rule.refused"
    # A system identity (the review-rule reviewer) was created on first use.
    USER_SYSTEM_CREATED = "user.system_created"
    GRANT_ACTIVATED = "grant.activated"
    GRANT_ACTIVATION_REFUSED = "grant.activation_refused"
    GRANT_ENDED = "grant.ended"
    GRANT_EXPIRY_WARNED = "grant.expiry_warned"
    PROVISION_APPLIED = "provision.applied"
    PROVISION_REMOVED = "provision.removed"
    PROVISION_FAILED = "provision.failed"
    PROVISION_DRIFT_ADDED = "provision.drift_added"
    PROVISION_DRIFT_REMOVED = "provision.drift_removed"
    PROVISION_RETRIED = "provision.retried"
    PROVISION_RECONCILE_REQUESTED = "provision.reconcile_requested"
    BREAK_GLASS_OPENED = "break_glass.opened"
    BREAK_GLASS_RATIFIED = "break_glass.ratified"
    BREAK_GLASS_REJECTED = "break_glass.rejected"


# The event that moves a PENDING request to each state it is resolved to.
RESOLUTION_ACTIONS = {
    RequestState.APPROVED: AuditAction.REQUEST_APPROVED,
    RequestState.DENIED: AuditAction.REQUEST_DENIED,
    RequestState.WITHDRAWN: AuditAction.REQUEST_WITHDRAWN,
    RequestState.EXPIRED: AuditAction.REQUEST_EXPIRED,
}


class NotificationEvent(models.TextChoices):
    """Events written to the outbox, and who the services address them to."""

    REQUEST_CREATED = "request.created", "New request (suggested and eligible reviewers)"
    REQUEST_APPROVED = "request.approved", "Request approved (requester)"
    REQUEST_DENIED = "request.denied", "Request denied (requester)"
    REQUEST_EXPIRED = "request.expired", "Request expired unreviewed (requester)"
    REQUEST_REMINDER = (
        "request.reminder",
        "Reminder or escalation tier came due (reviewers yet to review, or the tier's notify)",
    )
    ACCESS_STARTED = "access.started", "Scheduled access started (requester)"
    ACCESS_REFUSED = "access.refused", "Scheduled access refused: policy changed (requester)"
    ACCESS_ENDING_SOON = "access.ending_soon", "Access ends soon (requester)"
    ACCESS_ENDED = "access.ended", "Access ended (requester)"
    ACCESS_REVOKED = "access.revoked", "Access revoked (requester)"
    PROVISION_FAILED = (
        "provision.failed",
        "Provisioning failed (requester and the request's eligible reviewers)",
    )
    BREAK_GLASS_OPENED = (
        "break_glass.opened",
        "Break-glass access taken (the policy's notify list and the eligible reviewers)",
    )
    BREAK_GLASS_RATIFIED = "break_glass.ratified", "Break-glass ratified (requester)"
    BREAK_GLASS_REJECTED = (
        "break_glass.rejected",
        "Break-glass rejected and revoked (requester and the policy's notify list)",
    )


class ProvisionState(models.TextChoices):
    """Progress of a (user, target) assignment toward its `desired` membership."""

    PENDING = "PENDING", "Pending"
    APPLIED = "APPLIED", "Applied"
    FAILED = "FAILED", "Failed"
    REMOVED = "REMOVED", "Removed"
