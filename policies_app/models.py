"""Roles with their policy documents, resources with labels, user traits, and the directory
an identity provider pushes over SCIM (tokens, user links, groups)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


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
        through="RoleMembership",
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


POLICY_SOURCE = "policy"


def _policy_sources() -> list[str]:
    return [POLICY_SOURCE]


class RoleMembership(models.Model):
    """One user's standing membership of one role, and what it comes from.

    `sources` tells them apart: "policy" (policy files and the admin), "sso:<provider>"
    (the claims of the user's last sign-in through that provider), "scim:<provider>" (group
    membership the provider pushed). The user holds the role while any source says so; each
    source adds and removes only its own name (`policies_app.services.memberships`).
    """

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_memberships"
    )
    sources = models.JSONField(default=_policy_sources)

    class Meta:
        db_table = "policies_app_role_members"  # the table of the plain many-to-many before
        unique_together = [("role", "user")]

    def __str__(self) -> str:
        return f"{self.user} holds {self.role} ({', '.join(self.sources)})"


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


class NamedSpec(models.Model):
    """A policy document stored as its name, description and normalized spec."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    spec = models.JSONField(default=dict)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class NotificationRule(NamedSpec):
    """Where notifications about matching requests go, besides the people they concern.

    `spec` is normalized by `policies_app.documents.normalize_notification_rule`: the
    events it applies to, an optional predicate on the request (`condition`) and its
    channels (email addresses or users, Slack-compatible webhooks, signed JSON webhooks).
    Like Teleport's access monitoring rules; written only by the policy services.
    """


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


class SSOMapping(NamedSpec):
    """How one identity provider's claims become a user: identity claims, traits and
    `claims_to_roles` (policies_app.documents.sso_mappings). Named after the provider;
    written only by the policy services."""

    class Meta(NamedSpec.Meta):
        verbose_name = "SSO mapping"


class DirectoryToken(models.Model):
    """The bearer token an identity provider presents to /scim/v2/ (one per provider).

    Only the SHA-256 of the key is stored; the key is shown once when minted
    (`manage.py scim_token`). Written only by `policies_app.services.directory`."""

    provider = models.CharField(max_length=100, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider"]
        verbose_name = "directory (SCIM) token"

    def __str__(self) -> str:
        return f"SCIM token of {self.provider}"


class DirectoryUser(models.Model):
    """The link between an account and the identity provider that manages it over SCIM,
    with the provider's `externalId`. A linked account is seen by that provider only."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_link"
    )
    provider = models.CharField(max_length=100)
    external_id = models.CharField(max_length=255, blank=True, default="")
    # Set when the provider DELETEs the user: the account stays (deactivated; grants and
    # the audit log refer to it) but the provider no longer sees it.
    deleted = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=~models.Q(external_id=""),
                name="directory_user_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} from {self.provider}"


def _new_group_id() -> str:
    return str(uuid.uuid4())


class DirectoryGroup(models.Model):
    """A group an identity provider pushed over SCIM, with its members. Its displayName and
    externalId are values of the claim `groups` for the provider's `sso_mapping`, which
    turns memberships into standing roles (source "scim:<provider>")."""

    # A UUID kept as text: SCIM filters compare it in raw SQL, alike on SQLite and PostgreSQL.
    id = models.CharField(primary_key=True, max_length=36, default=_new_group_id, editable=False)
    provider = models.CharField(max_length=100)
    display_name = models.CharField(max_length=255)
    external_id = models.CharField(max_length=255, blank=True, default="")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="directory_groups", blank=True
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "display_name"]
        indexes = [models.Index(fields=["provider", "display_name"])]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.provider})"

    @property
    def claim_values(self) -> list[str]:
        """What this group is, as a value of the claim `groups`: name and external id."""
        return [v for v in (self.display_name, self.external_id) if v]


class ProvisionTarget(models.Model):
    """One place outside the portal a role or resource puts its holders (a PostgreSQL role,
    an LDAP group), as the policy documents name it: `provisioner` + `config` (the target
    mapping, secrets only by `*_env` names). Written only by `apply_policies`; a target no
    document names any more is retired (kept for history, its members revoked)."""

    key = models.CharField(max_length=64, unique=True)  # target_key: provisioner + identity
    provisioner = models.CharField(max_length=100)
    config = models.JSONField(default=dict)
    label = models.CharField(max_length=500, blank=True, default="")
    managed = models.BooleanField(
        default=False,
        help_text="The reconciler also removes members unknown to the portal.",
    )
    roles = models.JSONField(default=list, blank=True)
    resources = models.JSONField(default=list, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    last_reconciled_at = models.DateTimeField(null=True, blank=True)
    last_reconcile_error = models.TextField(blank=True, default="")
    reconcile_lag_seconds = models.FloatField(null=True, blank=True)
    reconcile_repairs = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provisioner", "label", "id"]
        indexes = [
            models.Index(fields=["id"], name="provtarget_live", condition=Q(retired_at=None))
        ]

    def __str__(self) -> str:
        return f"{self.provisioner}: {self.label or self.key[:12]}"


class ReviewRule(NamedSpec):
    """A review written by the system when a condition holds (kind: review_rule): `when` (a
    predicate over the request, the requester and the clock, `oncall()` included), the
    `timezone` of `now.*`, and the review it writes (`state`, `reason`). Normalized by
    `policies_app.documents.review_rules`; written only by the policy services."""


class OncallSchedule(NamedSpec):
    """Who is on call, for `oncall("name")` in review rules (kind: oncall_schedule): a
    PagerDuty schedule id, an Opsgenie schedule name, or a static list of users. Holds no
    credentials (those come from settings); written only by the policy services."""


class PolicyProposal(models.Model):
    """A policy change waiting for a second person (README "Two-person rule for policy
    changes"): the proposed documents (canonical, exported form; reloaded through the loader
    when approved), the field-level diff shown to the approver, and the fingerprint of every
    document it touches as they stood when proposed (a change under it makes it STALE).
    Written only by `policies_app.services.proposals`."""

    class State(models.TextChoices):
        PENDING = "PENDING"
        APPLIED = "APPLIED"
        REJECTED = "REJECTED"
        STALE = "STALE"
        WITHDRAWN = "WITHDRAWN"

    documents = models.JSONField(default=list)
    prune = models.BooleanField(default=False)
    source = models.CharField(max_length=20)  # cli, api or admin
    # cli only: who ran the command, as the operating system says ("os user deploy, sudo by
    # alice"); the proposer a CLI proposal names with --as is not verified.
    origin = models.CharField(max_length=200, blank=True, default="")
    summary = models.CharField(max_length=500, blank=True, default="")
    diff = models.JSONField(default=list)  # [{"document", "path", "op", "before", "after"}]
    base_fingerprint = models.JSONField(default=dict)  # "role ops" -> sha256 or None
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="policy_proposals"
    )
    created = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created", "-id"]
        permissions = [
            ("approve_policyproposal", "Can approve or reject policy changes others proposed"),
        ]
        indexes = [models.Index(fields=["state", "-created"], name="policyproposal_state")]

    def __str__(self) -> str:
        return f"proposal {self.pk} ({self.state})"


class AccessReview(NamedSpec):
    """A recurring review of standing role memberships (kind: access_review): the roles in
    scope, who reviews, the schedule, the deadline and what a missed item does. Normalized
    by `policies_app.documents.access_reviews`; written only by the policy services. Each
    start is a run (requests_app.CampaignRun)."""


class MembershipHold(models.Model):
    """A policy-file membership an access review removed: `apply_policies` reports the file
    still naming it as drift (a line and an audit event) instead of adding it back. It
    ends when the files stop naming the role for the user, or when another administrator
    releases it (`membership_hold_release`)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership_holds"
    )
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="holds")
    reason = models.TextField()
    removed_by = models.CharField(max_length=255)  # what removed it ("access review X, run N")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("user", "role")]

    def __str__(self) -> str:
        return f"{self.role} held away from {self.user}"
