"""The permission-version triggers (migration 0029) put back where SQLite dropped them.

SQLite has no ALTER TABLE for most changes: Django's schema editor copies a table into a
new one, which loses its triggers. A later migration touching `policies_app_role`,
`policies_app_role_members` or `requests_app_grant` would then silently stop counting
changes, and kept permissions would outlive a revocation. After every `migrate` this puts
back any trigger that is missing, from the migration's own definitions (`IF NOT EXISTS`).
PostgreSQL keeps triggers through ALTER TABLE: nothing to do there.
"""

from __future__ import annotations

from importlib import import_module

from django.db import DEFAULT_DB_ALIAS, connections


def permission_version_triggers_ensure(sender=None, using=DEFAULT_DB_ALIAS, **kwargs) -> int:
    """Create the SQLite triggers that are missing; returns how many were created."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return 0
    migration = import_module("requests_app.migrations.0029_permission_versions")
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        if migration.VERSION not in tables:
            return 0  # migrated back before 0029
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
        created = 0
        for name, event, table, when, scopes in migration.SQLITE_TRIGGERS:
            if f"permission_version_{name}" in present or table not in tables:
                continue
            cursor.execute(migration.sqlite_trigger_sql(name, event, table, when, scopes))
            created += 1
    return created
