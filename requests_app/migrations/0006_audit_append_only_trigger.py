"""PostgreSQL: make the audit event table append-only in the database itself.

Row triggers refuse every UPDATE and DELETE; a statement trigger refuses TRUNCATE unless
the session has set `accessportal.allow_audit_truncate` to `on` (the only caller that needs
it is Django's flush between transactional tests; see docs/SECURITY.md). A no-op on SQLite.
"""

from django.db import migrations

TABLE = "requests_app_auditevent"

INSTALL = f"""
CREATE OR REPLACE FUNCTION accessportal_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND coalesce(current_setting('accessportal.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit events are never changed or removed; see docs/SECURITY.md';
END
$$;
CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION accessportal_audit_append_only();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION accessportal_audit_append_only();
"""

REMOVE = f"""
DROP TRIGGER IF EXISTS audit_event_no_truncate ON {TABLE};
DROP TRIGGER IF EXISTS audit_event_append_only ON {TABLE};
DROP FUNCTION IF EXISTS accessportal_audit_append_only();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0005_access_request_extends")]

    operations = [migrations.RunPython(install, remove)]
