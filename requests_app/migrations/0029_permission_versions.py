"""Permission versions: a counter per user (and scope 0 for every role) bumped by triggers
in the transaction of each change to what a user's role permissions are made of
(`accessportal.kernel.models.PermissionVersion`). Triggers, not service code, so that every write
path counts: services, admin, bulk updates and raw SQL sweeps.

On SQLite each bump adds a random step (below), standing in for PostgreSQL's `xmin`.

Counted: role membership rows (insert, delete, any update), grants (insert, delete, an
update of user, role, starts, expires or revoked_at), roles (insert, delete, an update of
name or spec). Not counted: a grant's usage columns and `ended_at` (no permission changes).
"""

from django.db import migrations, models

VERSION = "requests_app_permissionversion"
MEMBER = "policies_app_role_members"
GRANT = "requests_app_grant"
ROLE = "policies_app_role"
GRANT_CHANGED = (
    "(OLD.user_id, OLD.role, OLD.starts, OLD.expires, OLD.revoked_at) IS DISTINCT FROM "
    "(NEW.user_id, NEW.role, NEW.starts, NEW.expires, NEW.revoked_at)"
)

PG_INSTALL = f"""
CREATE OR REPLACE FUNCTION accessportal_permission_version_bump(s bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO {VERSION} (scope, version) VALUES (s, 1)
    ON CONFLICT (scope) DO UPDATE SET version = {VERSION}.version + 1
$$;
CREATE OR REPLACE FUNCTION accessportal_permission_version_user() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM accessportal_permission_version_bump(OLD.user_id);
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id) THEN
        PERFORM accessportal_permission_version_bump(NEW.user_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE OR REPLACE FUNCTION accessportal_permission_version_roles() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM accessportal_permission_version_bump(0);
    RETURN NULL;
END
$$;
CREATE TRIGGER permission_version_member
    AFTER INSERT OR UPDATE OR DELETE ON {MEMBER}
    FOR EACH ROW EXECUTE FUNCTION accessportal_permission_version_user();
CREATE TRIGGER permission_version_grant_write
    AFTER INSERT OR DELETE ON {GRANT}
    FOR EACH ROW EXECUTE FUNCTION accessportal_permission_version_user();
CREATE TRIGGER permission_version_grant_update
    AFTER UPDATE ON {GRANT} FOR EACH ROW WHEN ({GRANT_CHANGED})
    EXECUTE FUNCTION accessportal_permission_version_user();
CREATE TRIGGER permission_version_role_write
    AFTER INSERT OR DELETE ON {ROLE}
    FOR EACH ROW EXECUTE FUNCTION accessportal_permission_version_roles();
CREATE TRIGGER permission_version_role_update
    AFTER UPDATE ON {ROLE} FOR EACH ROW
    WHEN ((OLD.name, OLD.spec::text) IS DISTINCT FROM (NEW.name, NEW.spec::text))
    EXECUTE FUNCTION accessportal_permission_version_roles();
"""

PG_REMOVE = f"""
DROP TRIGGER IF EXISTS permission_version_role_update ON {ROLE};
DROP TRIGGER IF EXISTS permission_version_role_write ON {ROLE};
DROP TRIGGER IF EXISTS permission_version_grant_update ON {GRANT};
DROP TRIGGER IF EXISTS permission_version_grant_write ON {GRANT};
DROP TRIGGER IF EXISTS permission_version_member ON {MEMBER};
DROP FUNCTION IF EXISTS accessportal_permission_version_roles();
DROP FUNCTION IF EXISTS accessportal_permission_version_user();
DROP FUNCTION IF EXISTS accessportal_permission_version_bump(bigint);
"""


# SQLite has no transaction id on a row (PostgreSQL's `xmin`, which the version key carries
# there): each bump adds 1 plus a random step below 2**32 instead, so that a value written
# by a transaction that rolled back is not reached again by later committed changes (a
# chance of about 2**-31), and a process that kept permissions under it asks again.
SQLITE_STEP_MASK = 0xFFFFFFFF


def _sqlite_bump(scope: str) -> str:
    return (
        f"INSERT OR IGNORE INTO {VERSION} (scope, version) VALUES ({scope}, 0); "
        f"UPDATE {VERSION} SET version = version + 1 + (random() & {SQLITE_STEP_MASK})"
        f" WHERE scope = {scope};"
    )


# (name, event, table, WHEN condition or "", scopes bumped)
SQLITE_TRIGGERS = [
    ("member_insert", "INSERT", MEMBER, "", ["NEW.user_id"]),
    ("member_delete", "DELETE", MEMBER, "", ["OLD.user_id"]),
    ("member_update", "UPDATE", MEMBER, "", ["OLD.user_id", "NEW.user_id"]),
    ("grant_insert", "INSERT", GRANT, "", ["NEW.user_id"]),
    ("grant_delete", "DELETE", GRANT, "", ["OLD.user_id"]),
    (
        "grant_update",
        "UPDATE",
        GRANT,
        "OLD.user_id IS NOT NEW.user_id OR OLD.role IS NOT NEW.role"
        " OR OLD.starts IS NOT NEW.starts OR OLD.expires IS NOT NEW.expires"
        " OR OLD.revoked_at IS NOT NEW.revoked_at",
        ["OLD.user_id", "NEW.user_id"],
    ),
    ("role_insert", "INSERT", ROLE, "", ["0"]),
    ("role_delete", "DELETE", ROLE, "", ["0"]),
    ("role_update", "UPDATE", ROLE, "OLD.name IS NOT NEW.name OR OLD.spec IS NOT NEW.spec", ["0"]),
]


def sqlite_trigger_sql(name: str, event: str, table: str, when: str, scopes: list[str]) -> str:
    """One SQLite trigger (also put back after a table rebuild:
    `requests_app.permission_version_triggers`)."""
    condition = f" WHEN {when}" if when else ""
    body = " ".join(_sqlite_bump(scope) for scope in scopes)
    return (
        f"CREATE TRIGGER IF NOT EXISTS permission_version_{name} AFTER {event} ON {table}"
        f" FOR EACH ROW{condition} BEGIN {body} END"
    )


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_INSTALL, params=None)
    elif vendor == "sqlite":
        for name, event, table, when, scopes in SQLITE_TRIGGERS:
            schema_editor.execute(sqlite_trigger_sql(name, event, table, when, scopes), params=None)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REMOVE, params=None)
    elif vendor == "sqlite":
        for name, *_ in SQLITE_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS permission_version_{name}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("policies_app", "0011_policyproposal_origin"),
        ("requests_app", "0028_review_rows_only_while_pending"),
    ]

    operations = [
        migrations.CreateModel(
            name="PermissionVersion",
            fields=[
                ("scope", models.BigIntegerField(primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "requests_app_permissionversion"},
        ),
        migrations.RunPython(install, remove),
    ]
