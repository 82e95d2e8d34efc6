"""PostgreSQL: narrow the trigger's retention-purge opening (migration 0024) to what the
purge does, so a role that can UPDATE the table cannot use it to forge or erase.

An UPDATE of an audit event is let through only when ALL of these hold:
- the transaction set `accessportal.audit_purge` to ITS OWN transaction id
  (`set_config(..., txid_current()::text, true)`): a session-level `SET`, or `ALTER ROLE ...
  SET`, holds a stale id and opens nothing;
- the event is v2 and about an access request that is finished (DENIED, WITHDRAWN,
  EXPIRED, REVOKED, or APPROVED with its access ended);
- nothing but `data` changes, and `data` keeps the same keys;
- every changed value is under `reason`, `resolve_reason` or `revoke_reason`, was a JSON
  string, and becomes `{"$purged": H}` where H is computed HERE as sha256 of the string's
  canonical JSON (PostgreSQL's `jsonb::text` of a string is the chain's canonical form), so
  a marker always keeps the original's hash and the chain still verifies.
What stays possible to a role that can UPDATE: erasing (never altering) the reason of a
finished request before its retention period; `verify_audit` reports purged values that no
later `retention.purged` event covers (docs/SECURITY.md, "The trigger's one opening").
A no-op on SQLite.
"""

from django.db import migrations

HINT = "audit events are never changed or removed; see docs/SECURITY.md"
IS_SUPERUSER = "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
REQUESTS = "requests_app_accessrequest"

NARROW = f"""
    IF TG_OP = 'UPDATE'
       AND coalesce(current_setting('accessportal.audit_purge', true), '') = txid_current()::text
       AND OLD.version >= 2
       AND OLD.target_type = 'access_request'
       AND (NEW.id, NEW.seq, NEW.created, NEW.actor_id, NEW.actor_name, NEW.action,
            NEW.target_type, NEW.target_id, NEW.prev_hash, NEW.hash, NEW.version)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.seq, OLD.created, OLD.actor_id, OLD.actor_name, OLD.action,
            OLD.target_type, OLD.target_id, OLD.prev_hash, OLD.hash, OLD.version)
       AND EXISTS (
           SELECT 1 FROM {REQUESTS} r
            WHERE r.id = CAST(OLD.target_id AS uuid)
              AND (r.state IN ('DENIED', 'WITHDRAWN', 'EXPIRED', 'REVOKED')
                   OR (r.state = 'APPROVED' AND r.access_expires < now())))
       AND NOT EXISTS (
           SELECT 1 FROM jsonb_each(OLD.data) o FULL JOIN jsonb_each(NEW.data) n
                ON o.key = n.key
            WHERE o.key IS NULL OR n.key IS NULL
               OR (o.value <> n.value AND NOT (
                       o.key IN ('reason', 'resolve_reason', 'revoke_reason')
                       AND jsonb_typeof(o.value) = 'string'
                       AND n.value = jsonb_build_object(
                           '$purged',
                           encode(sha256(convert_to(o.value::text, 'UTF8')), 'hex')))))
    THEN
        RETURN NEW;
    END IF;"""

# Migration 0024's opening, for the way back.
WIDE = """
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
                       AND n.value - '$purged' = '{}'::jsonb
                       AND coalesce(n.value ->> '$purged', '') ~ '^[0-9a-f]{64}$'
                       AND NOT (jsonb_typeof(o.value) = 'object' AND o.value ? '$purged'))))
    THEN
        RETURN NEW;
    END IF;"""


def _function(opening: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION accessportal_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND {IS_SUPERUSER} THEN
        RETURN NULL;
    END IF;{opening}
    RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege', HINT = '{HINT}';
END
$$;
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(NARROW), params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(WIDE), params=None)


class Migration(migrations.Migration):
    dependencies = [("requests_app", "0025_grant_unused_index")]

    operations = [migrations.RunPython(install, remove)]
