"""Per-user counters of what a user's role permissions are made of.

Written only by database triggers (migration 0028), in the transaction of the change they
count, on PostgreSQL and SQLite alike: a row of `policies_app_role_members` (scope: its
user), a grant's user, role or window (scope: its user), and any role's name or spec
(scope 0: every user). Usage recording and the sweeps' `ended_at` do not count: they change
no permission. A process may keep a user's role permissions in memory while the sum of
scopes 0 and the user's id is the one it read before computing them
(`backends.role_permissions_at`); the counters only grow.
"""

from __future__ import annotations

from django.db import models


class PermissionVersion(models.Model):
    scope = models.BigIntegerField(primary_key=True)  # a user's id, or 0: every role
    version = models.BigIntegerField(default=0)

    class Meta:
        db_table = "requests_app_permissionversion"

    def __str__(self) -> str:
        return f"{self.scope}: {self.version}"
