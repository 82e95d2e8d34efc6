"""Access requests, reviews, grants and the notification outbox.

Models hold data only; every write goes through `requests_app.services`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accessportal.kernel.choices import (
    NotificationChannel,
    OutboxState,
    ProvisionState,
    RequestState,
    ReviewState,
)

# The kernel's tables (audit chain, permission versions) keep this app's label (see the kernel
# module); importing them here is how Django finds them when it loads this app.
from accessportal.kernel.models import AuditChainHead, AuditEvent, PermissionVersion  # noqa: F401
from requests_app.break_glass_models import BreakGlass  # noqa: F401
from requests_app.campaign_models import CampaignItem, CampaignRun  # noqa: F401
from requests_app.credential_models import SigningKey  # noqa: F401
from requests_app.idempotency_models import IdempotencyRecord  # noqa: F401
from requests_app.querysets import AccessRequestQuerySet, GrantQuerySet, grant_is_open
from requests_app.review_link_models import ReviewLink  # noqa: F401
from requests_app.review_rule_models import ReviewRuleCheck  # noqa: F401
from requests_app.token_models import ApiToken, CliLogin  # noqa: F401


class AccessRequest(models.Model):
    """A user's request for roles and/or resources, for a bounded time, with a reason.

    `policy` is the snapshot taken at creation (thresholds, threshold sets per item, the
    roles a reviewer must be allowed to review per item, caps): later policy edits do not
    change the rules of a request in flight. Requests are never deleted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    roles = models.JSONField(default=list, blank=True)
    resources = models.JSONField(default=list, blank=True)
    state = models.CharField(
        max_length=16, choices=RequestState.choices, default=RequestState.PENDING
    )
    reason = models.TextField(blank=True, default="")
    created = models.DateTimeField()
    updated = models.DateTimeField(auto_now=True)
    expires = models.DateTimeField(help_text="Pending until: expires if unresolved by then.")
    requested_duration = models.PositiveIntegerField(help_text="Seconds asked for.")
    max_duration = models.PositiveIntegerField(help_text="Seconds of access if approved.")
    assume_start_time = models.DateTimeField(null=True, blank=True)
    access_starts = models.DateTimeField(null=True, blank=True)
    access_expires = models.DateTimeField(null=True, blank=True)
    suggested_reviewers = models.JSONField(default=list, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    policy = models.JSONField(default=dict, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    resolve_reason = models.TextField(blank=True, default="")
    resolved_by_override = models.BooleanField(
        default=False,
        help_text="Approved or denied directly by a superuser who does not otherwise hold "
        "requests_app.resolve_accessrequest: an override, shown as such.",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    revoke_reason = models.TextField(blank=True, default="")
    extends = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="extensions",
        help_text="The approved request whose access this one continues without a gap.",
    )
    # Reminder and escalation tiers (policy snapshot "reminders"): how many have been sent,
    # and when the next one is due while PENDING (services.escalation; null: none left).
    # db_default: added online, the old code's INSERTs get 0 (docs/deploy.md, "Upgrades").
    reminders_sent = models.SmallIntegerField(default=0, db_default=0)
    reminder_due = models.DateTimeField(null=True, blank=True)

    objects = AccessRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        permissions = [
            ("review_accessrequest", "Can review this access request"),
            ("resolve_accessrequest", "Can approve or deny access requests directly"),
            ("check_access", "Can check any user's access"),
        ]
        indexes = [
            models.Index(
                fields=["expires"],
                name="request_pending_expires",
                condition=Q(state="PENDING"),
            ),
            models.Index(
                fields=["reminder_due"],
                name="request_pending_reminder",
                condition=Q(state="PENDING", reminder_due__isnull=False),
            ),
            models.Index(fields=["user", "-created"], name="request_user_created"),
            models.Index(fields=["state", "-created"], name="request_state_created"),
        ]

    def __str__(self) -> str:
        items = ", ".join([*self.roles, *self.resources]) or "nothing"
        return f"{self.user} → {items} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state == RequestState.PENDING

    def is_pending_at(self, at) -> bool:
        """`AccessRequestQuerySet.pending_at` for this row: PENDING and not past its TTL."""
        return self.is_pending and self.expires > at

    def is_access_live_at(self, at) -> bool:
        """`AccessRequestQuerySet.access_live_at` for this row: approved, access not ended."""
        return (
            self.state == RequestState.APPROVED
            and self.access_expires is not None
            and self.access_expires > at
        )


class PendingRequest(AccessRequest):
    """The reviewer's queue in Django admin ("Pending for me"): a proxy, no table of its own.

    Rows are always `requests_needing_review(user)`; the model only gives admin a second
    changelist over the same requests.
    """

    class Meta:
        proxy = True
        verbose_name = "request pending for me"
        verbose_name_plural = "pending for me"


class Review(models.Model):
    """One reviewer's verdict on one request; at most one per reviewer (a DB constraint)."""

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    state = models.CharField(max_length=16, choices=ReviewState.choices)
    reason = models.TextField(blank=True, default="")
    assume_start_time = models.DateTimeField(null=True, blank=True)
    threshold_indexes = models.JSONField(
        default=list, help_text="Indexes of the request's thresholds this review counts toward."
    )
    created = models.DateTimeField()
    # Set when the review stopped counting toward thresholds: its reviewer was deprovisioned
    # while the request was still pending (ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS). The
    # review stays, as part of the record.
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "reviewer"], name="review_one_per_reviewer")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.state.lower()} {self.request_id}"


class Grant(models.Model):
    """Access an approved request gives: user × (role | resource) × [starts, expires).

    Access checks compare the window with the current time, so access ends on time even
    with no worker running; `ended_at` only records that a worker tidied it up.
    """

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="grants"
    )
    role = models.CharField(max_length=100, blank=True, default="")
    resource = models.CharField(max_length=320, blank=True, default="")
    starts = models.DateTimeField()
    expires = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()
    activated_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the start was confirmed: at approval for immediate access; for a "
        "later start, when a worker re-checked policy at the start time.",
    )
    warned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the requester was told the access ends soon."
    )
    first_used = models.DateTimeField(
        null=True, blank=True, help_text="First access check or credential issued under it."
    )
    last_used = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Latest recorded use (recorded at most once per USAGE_RECORD_INTERVAL).",
    )

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["-starts", "id"]
        permissions = [("revoke_grant", "Can revoke any approved access")]
        constraints = [
            models.CheckConstraint(
                condition=(Q(role="") & ~Q(resource="")) | (~Q(role="") & Q(resource="")),
                name="grant_role_xor_resource",
            ),
            models.CheckConstraint(
                condition=Q(expires__gt=models.F("starts")), name="grant_window_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["user", "role", "expires"], name="grant_user_role_expires"),
            models.Index(
                fields=["user", "resource", "expires"], name="grant_user_resource_expires"
            ),
            models.Index(
                fields=["expires"], name="grant_unended_expires", condition=Q(ended_at=None)
            ),
            # "Approved, never used" (selectors.usage): the gauge and the auditors' filter.
            models.Index(
                fields=["expires"], name="grant_unused_expires", condition=Q(first_used=None)
            ),
            models.Index(
                fields=["starts"],
                name="grant_unactivated_starts",
                condition=Q(activated_at=None, revoked_at=None),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} → {self.role or self.resource}"

    @property
    def target(self) -> str:
        return self.role or self.resource

    def is_open_at(self, at) -> bool:
        """`GrantQuerySet.open_at` for this row: gives access at `at`."""
        return grant_is_open(self.starts, self.expires, self.revoked_at, at)

    def status_at(self, at) -> str:
        """What the desk shows: revoked, active (open at `at`), ended or scheduled."""
        if self.revoked_at:
            return "revoked"
        if self.is_open_at(at):
            return "active"
        return "ended" if self.expires <= at else "scheduled"


class OutboxMessage(models.Model):
    """A notification written in the transaction of the change; dispatched after commit.

    A worker routes it once (`routed_at`) into deliveries, one per destination; `state`,
    `attempts`, `last_error` and `sent_at` summarise them: PENDING while any delivery is
    pending, DEAD when one ran out of attempts, SENT when all went out.
    """

    created = models.DateTimeField()
    event = models.CharField(max_length=64)
    request = models.ForeignKey(
        AccessRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    recipients = models.JSONField(default=list)
    payload = models.JSONField(default=dict)
    state = models.CharField(
        max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    routed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker turned it into deliveries."
    )

    class Meta:
        ordering = ["created", "id"]
        indexes = [
            models.Index(fields=["created"], name="outbox_pending", condition=Q(state="PENDING"))
        ]

    def __str__(self) -> str:
        return f"{self.event} → {', '.join(self.recipients)}"


class NotificationDelivery(models.Model):
    """One outbox message to one destination: an email address, a Slack-compatible webhook
    or a signed JSON webhook.

    Claimed by compare-and-swap before sending (`claimed_until` is a lease, so a worker
    killed mid-send leaves it to be retried, not lost); retried with exponential backoff
    until `NOTIFY_MAX_ATTEMPTS`, then DEAD (a dead letter) until someone retries it.
    The id is sent to webhooks as the delivery id, so receivers can drop a repeat.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(OutboxMessage, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=NotificationChannel.choices)
    target = models.CharField(
        max_length=2000, help_text="Email address, webhook URL, or env:NAME holding the URL."
    )
    rule = models.CharField(
        max_length=100, blank=True, default="", help_text="Notification rule that added it."
    )
    options = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=OutboxState.choices, default=OutboxState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()

    class Meta:
        ordering = ["created", "channel", "target"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["message", "channel", "target"], name="delivery_one_per_destination"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending_due",
                condition=Q(state="PENDING"),
            ),
            # Dead letters by channel, counted by the metrics at every scrape: without it
            # the count reads every delivery ever made.
            models.Index(fields=["channel"], name="delivery_dead", condition=Q(state="DEAD")),
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery of message {self.message_id}"


# An assignment still has work to do: its state has not reached what `desired` asks for.
PROVISION_UNSETTLED = (Q(desired=True) & ~Q(state=ProvisionState.APPLIED)) | (
    Q(desired=False) & ~Q(state=ProvisionState.REMOVED)
)


class ProvisionAssignment(models.Model):
    """Whether one user should be a member of one provisioning target, and how far the
    workers got: `desired` follows the grants and standing roles (set in the transaction
    that changes them), `state` is the progress toward it (PENDING, APPLIED, FAILED,
    REMOVED). `generation` grows whenever `desired` flips, so a worker whose call started
    before the flip records nothing. Claimed by compare-and-swap with a lease
    (`claimed_until`), like notification deliveries.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="provision_assignments"
    )
    target = models.ForeignKey(
        "policies_app.ProvisionTarget", on_delete=models.PROTECT, related_name="assignments"
    )
    desired = models.BooleanField(default=True)
    state = models.CharField(
        max_length=16, choices=ProvisionState.choices, default=ProvisionState.PENDING
    )
    generation = models.PositiveIntegerField(default=1)
    account = models.CharField(
        max_length=500, blank=True, default="", help_text="The name in the target at last action."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    applied_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField()
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["target", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "target"], name="provision_one_per_user_target")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="provision_unsettled_due",
                condition=PROVISION_UNSETTLED,
            ),
            models.Index(fields=["target", "desired"], name="provision_target_desired"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in target {self.target_id}: {self.display_state}"

    @property
    def display_state(self) -> str:
        """applied | pending | failed | removed | revoking (what every surface shows)."""
        if self.desired:
            return {
                ProvisionState.APPLIED: "applied",
                ProvisionState.FAILED: "failed",
            }.get(self.state, "pending")
        return "removed" if self.state == ProvisionState.REMOVED else "revoking"


class AccessRequestUserObjectPermission(UserObjectPermissionBase):
    """django-guardian user permissions on requests, with a direct foreign key (fast joins).

    Written by `services.visibility`: the requester and everyone who reviewed a request can
    view it. Eligible reviewers reach it through their reviewer profile's group rows.
    """

    content_object = models.ForeignKey(AccessRequest, on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        indexes = [
            models.Index(fields=["user", "permission", "content_object"], name="reqperm_user_perm")
        ]


class AccessRequestGroupObjectPermission(GroupObjectPermissionBase):
    """django-guardian group permissions on requests: view and review for each reviewer
    profile (policies_app.ReviewerProfile) whose roles and traits may review a PENDING
    request. A projection of policy; the check at review time stays the authority."""

    content_object = models.ForeignKey(AccessRequest, on_delete=models.CASCADE)
    # A review rule with `request.pending_for` (docs/notifications.md, "Widening the
    # reviewers"): the profile sees the request while it is pending but may review it only
    # from `review_opens` (null: from the start) until `review_closes` (null: to the end);
    # work queues and reminders follow. The review service decides by policy regardless.
    review_opens = models.DateTimeField(null=True, blank=True)
    review_closes = models.DateTimeField(null=True, blank=True)

    class Meta(GroupObjectPermissionBase.Meta):
        pass


def review_open_at(now) -> Q:
    """Group rows whose review window holds `now` (see `review_opens`)."""
    return (Q(review_opens=None) | Q(review_opens__lte=now)) & (
        Q(review_closes=None) | Q(review_closes__gt=now)
    )


class Heartbeat(models.Model):
    """When a background process last proved it works (README "Health and readiness").

    One row per name, upserted by `services.heartbeats`: `worker` when a worker ran the
    heartbeat task, `beat` when that task had been sent by Celery beat; `audit-verified`
    and `audit-broken` when the audit log was last verified whole or found broken (the
    metrics). Operational state, not a change anyone made: not audited.
    """

    name = models.CharField(max_length=32, primary_key=True)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} heartbeat at {self.last_seen:%Y-%m-%d %H:%M:%S}"
