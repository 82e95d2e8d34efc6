"""PostgreSQL: protect the audit chain head like the events, and drop the TRUNCATE opt-in.

- Events (migration 0006's function, replaced): UPDATE and DELETE are refused to everyone;
  TRUNCATE is refused unless the current role is a superuser. The session setting
  `accessportal.allow_audit_truncate` that 0006 honoured is gone: any role could set it.
  Superusers are exempt from the TRUNCATE refusal only because they can switch the
  triggers off anyway (`ALTER TABLE … DISABLE TRIGGER`, `session_replication_role`), and
  Django's flush (tests, `manage.py flush`) empties tables with TRUNCATE.
- Chain head: it may only move forward along the chain. An UPDATE must raise `seq` by
  exactly the events appended since (all present, the first linking to the old hash) and set
  `hash` to the newest event's; an INSERT must match the newest event (or the genesis of an
  empty log); DELETE is refused; TRUNCATE as for the events.

Against a superuser or the tables' owner, these triggers are no defence: the signed anchors
are (docs/SECURITY.md). A no-op on SQLite.
"""

from django.db import migrations

EVENTS = "requests_app_auditevent"
HEAD = "requests_app_auditchainhead"
HINT = "audit events are never changed or removed; see docs/SECURITY.md"

IS_SUPERUSER = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"

EVENTS_FUNCTION = f"""
CREATE OR REPLACE FUNCTION accessportal_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND {IS_SUPERUSER} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
END
$$;
"""

HEAD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION accessportal_audit_head_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    appended bigint;
    first_prev text;
    newest_seq bigint;
    newest_hash text;
BEGIN
    IF TG_OP = 'TRUNCATE' AND {IS_SUPERUSER} THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('TRUNCATE', 'DELETE') THEN
        RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
        IF NEW.id = OLD.id AND NEW.seq > OLD.seq THEN
            SELECT count(*) INTO appended FROM {EVENTS} WHERE seq > OLD.seq AND seq <= NEW.seq;
            SELECT prev_hash INTO first_prev FROM {EVENTS} WHERE seq = OLD.seq + 1;
            SELECT hash INTO newest_hash FROM {EVENTS} WHERE seq = NEW.seq;
            IF appended = NEW.seq - OLD.seq AND first_prev = OLD.hash
               AND newest_hash = NEW.hash THEN
                RETURN NEW;
            END IF;
        END IF;
        RAISE EXCEPTION 'the audit log is append-only: its chain head only moves forward '
                        'along the chain; moving it from #% to #% is refused', OLD.seq, NEW.seq
            USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
    END IF;
    -- INSERT: a head is created only where the chain really ends.
    SELECT seq, hash INTO newest_seq, newest_hash FROM {EVENTS} ORDER BY seq DESC LIMIT 1;
    IF (newest_seq IS NULL AND NEW.seq = 0 AND NEW.hash = repeat('0', 64))
       OR (NEW.seq = newest_seq AND NEW.hash = newest_hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: a chain head must match the newest '
                    'event; a head at #% is refused', NEW.seq
        USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
END
$$;
CREATE TRIGGER audit_head_forward_only
    BEFORE INSERT OR UPDATE OR DELETE ON {HEAD}
    FOR EACH ROW EXECUTE FUNCTION accessportal_audit_head_forward_only();
CREATE TRIGGER audit_head_no_truncate
    BEFORE TRUNCATE ON {HEAD}
    FOR EACH STATEMENT EXECUTE FUNCTION accessportal_audit_head_forward_only();
"""

# 0006's function, for going back.
OLD_EVENTS_FUNCTION = """
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
"""

REMOVE_HEAD = f"""
DROP TRIGGER IF EXISTS audit_head_no_truncate ON {HEAD};
DROP TRIGGER IF EXISTS audit_head_forward_only ON {HEAD};
DROP FUNCTION IF EXISTS accessportal_audit_head_forward_only();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(EVENTS_FUNCTION + HEAD_FUNCTION, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE_HEAD + OLD_EVENTS_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0007_audit_event_actor_protect")]

    operations = [migrations.RunPython(install, remove)]
