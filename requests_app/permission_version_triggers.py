"""The permission-version triggers (migration 0029) put back where SQLite dropped them.

SQLite has no ALTER TABLE for most changes: Django's schema editor copies a table into a
new one, which loses its triggers. A later migration touching `policies_app_role`,
`policies_app_role_members` or `requests_app_grant` would then silently stop counting
changes, and kept permissions would outlive a revocation. After every `migrate` this puts
back any trigger that is missing, from the migration's own definitions (`IF NOT EXISTS`),
and replaces one whose definition differs from the migration's (a database migrated before
the bump took a random step kept the old bodies; the migration was changed before it was
released). PostgreSQL keeps triggers through ALTER TABLE: nothing to do there.
"""

from __future__ import annotations

from importlib import import_module

from django.db import DEFAULT_DB_ALIAS, connections


def permission_version_triggers_ensure(sender=None, using=DEFAULT_DB_ALIAS, **kwargs) -> int:
    """Create the SQLite triggers that are missing or differ from the migration's;
    returns how many were created."""
    connection = connections[using]
    if connection.vendor != "sqlite":
        return 0
    migration = import_module("requests_app.migrations.0029_permission_versions")
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        if migration.VERSION not in tables:
            return 0  # migrated back before 0029
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        present = dict(cursor.fetchall())
        created = 0
        for name, event, table, when, scopes in migration.SQLITE_TRIGGERS:
            if table not in tables:
                continue
            trigger = f"permission_version_{name}"
            wanted = migration.sqlite_trigger_sql(name, event, table, when, scopes)
            stored = present.get(trigger)
            if stored == wanted.replace(" IF NOT EXISTS", "", 1):
                continue
            if stored is not None:
                cursor.execute(f"DROP TRIGGER {trigger}")
            cursor.execute(wanted)
            created += 1
    return created
