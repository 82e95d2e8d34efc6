"""The audit chain's v2 format and the retention purge's one opening in the trigger.

- `AuditEvent.version`: 1 for every existing event (a constant database default: PostgreSQL
  adds the column without rewriting a row, no UPDATE trigger fires, and the old code's
  INSERTs during a rollout, v1 hashes, get 1); the code writes 2 from now on.
- PostgreSQL: migration 0008's refusal of UPDATE and DELETE gains one exception, the
  retention purge (`services.retention`): an UPDATE is let through only when the transaction
  has set `accessportal.audit_purge` to `on` AND the event is v2 AND nothing but `data`
  changes AND `data` keeps the same keys, every changed value becoming a purged marker
  `{"$purged": "<64 hex>"}` of a value that was not purged already. The setting is no
  secret (any role may set it): what keeps the purge honest is the v2 hash, which a marker
  only keeps when it carries the original value's hash (verify_audit checks it).
A no-op on SQLite.
"""

from django.db import migrations, models

EVENTS = "requests_app_auditevent"
HINT = "audit events are never changed or removed; see docs/SECURITY.md"
IS_SUPERUSER = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"


def _function(purge: bool) -> str:
    allow_purge = (
        f"""
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('accessportal.audit_purge', true), '') = 'on'
       AND OLD.version >= 2
       AND (NEW.id, NEW.seq, NEW.created, NEW.actor_id, NEW.actor_name, NEW.action,
            NEW.target_type, NEW.target_id, NEW.prev_hash, NEW.hash, NEW.version)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.seq, OLD.created, OLD.actor_id, OLD.actor_name, OLD.action,
            OLD.target_type, OLD.target_id, OLD.prev_hash, OLD.hash, OLD.version)
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(OLD.data) o FULL JOIN jsonb_each(NEW.data) n
                ON o.key = n.key
            WHERE o.key IS NULL OR n.key IS NULL
               OR (o.value <> n.value AND NOT (
                       jsonb_typeof(n.value) = 'object'
                       AND n.value - '$purged' = '{{}}'::jsonb
                       AND coalesce(n.value ->> '$purged', '') ~ '^[0-9a-f]{{64}}$'
                       AND NOT (jsonb_typeof(o.value) = 'object' AND o.value ? '$purged'))))
    THEN
        RETURN NEW;
    END IF;"""
        if purge
        else ""
    )
    return f"""
CREATE OR REPLACE FUNCTION accessportal_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND {IS_SUPERUSER} THEN
        RETURN NULL;
    END IF;{allow_purge}
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
END
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(purge=True), params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(purge=False), params=None)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0023_grant_usage")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="version",
            field=models.SmallIntegerField(default=1, db_default=1),
        ),
        migrations.RunPython(install, remove),
    ]
