"""The kernel's tables: the audit chain's head row and events, and the permission versions.

They keep the `requests_app` label: their tables, migrations and permissions
(`requests_app.view_auditevent`, named in policy files) were that app's before the kernel
was split out, and renaming them would break every policy that grants the auditor's view.
The code is the kernel's; `requests_app.models` imports these classes so Django finds them
when it loads that app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditChainHead(models.Model):
    """The single row holding the last sequence number and hash; locked to append."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        app_label = "requests_app"

    def __str__(self) -> str:
        return f"audit chain head #{self.seq}"


class AuditEvent(models.Model):
    """An append-only, hash-chained record of one state change.

    `hash` = sha256 over this event's fields and `prev_hash` (format `version`: v2 commits
    to each `data` value by its hash, so a value can be purged); `seq` has no gaps. Written
    only by `accessportal.kernel.audit`, in the transaction of the change it records.
    """

    seq = models.BigIntegerField(unique=True)
    created = models.DateTimeField()
    # PROTECT: actor_id is hashed, so nulling it when an account is deleted would break
    # the chain (and the PostgreSQL trigger refuses the UPDATE). Deactivate accounts instead.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=320)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # The chain format the hash is computed in (accessctl/chain.py): 1 for events written
    # before the v2 cut-over, 2 after. db_default: added online without rewriting a row, and
    # the old code's INSERTs during a rollout (v1 hashes) get 1 (docs/deploy.md, "Upgrades").
    version = models.SmallIntegerField(default=1, db_default=1)

    class Meta:
        app_label = "requests_app"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["actor_name", "seq"], name="audit_actor_seq"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["created"], name="audit_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_type}:{self.target_id} by {self.actor_name}"


class PermissionVersion(models.Model):
    """Per-user counters of what a user's role permissions are made of.

    Written only by database triggers (requests_app migration 0029), in the transaction of
    the change they count, on PostgreSQL and SQLite alike: a row of
    `policies_app_role_members` (scope: its user), a grant's user, role or window (scope:
    its user), and any role's name or spec (scope 0: every user). Usage recording and the
    sweeps' `ended_at` do not count: they change no permission. A process may keep a user's
    role permissions in memory while the sum of scopes 0 and the user's id is the one it
    read before computing them (`backends.role_permissions_at`); the counters only grow.
    `PolicySet.load` keeps the parsed roles while scope 0 holds (`PolicySet.version_sql`).
    Both read their key with `permission_version_sql`.

    In the kernel so that `policies_app` (PolicySet.load: scope 0) and `requests_app`
    (the access check) both read it; the triggers are requests_app's migration 0029."""

    scope = models.BigIntegerField(primary_key=True)  # a user's id, or 0: every role
    version = models.BigIntegerField(default=0)

    class Meta:
        app_label = "requests_app"  # its migration (0029) and table are that app's
        db_table = "requests_app_permissionversion"

    def __str__(self) -> str:
        return f"{self.scope}: {self.version}"


def permission_version_sql(vendor: str, user: str | None = "%s") -> str:
    """A permission version as text, as a scalar subquery: the sum of the roles' counter
    (scope 0) and, unless `user` is None, that user's (`user`: an SQL expression, one
    placeholder by default); 0 before any change, and it grows with every change counted.
    On PostgreSQL each counter's value comes with the transaction id that wrote it
    (`xmin`), so a value that was written and rolled back (seen only by its own
    transaction), or counters emptied by a TRUNCATE or a restore and counted up again,
    never match a value kept from before; on SQLite the triggers bump by 1 plus a random
    step for the same reason (migration 0029). The table is written out (the access
    check's statements are)."""
    table = PermissionVersion._meta.db_table
    scopes = "pv.scope = 0" if user is None else f"pv.scope IN (0, {user})"
    if vendor == "postgresql":
        return (
            "(SELECT COALESCE(SUM(pv.version), 0)::text || ':'"
            " || COALESCE(string_agg(pv.xmin::text, ',' ORDER BY pv.scope), '')"
            f" FROM {table} pv WHERE {scopes})"
        )
    return f"(SELECT CAST(COALESCE(SUM(pv.version), 0) AS TEXT) FROM {table} pv WHERE {scopes})"
