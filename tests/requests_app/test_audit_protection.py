"""Audit log protection beyond the hash chain: the database refuses edits (PostgreSQL
trigger), `verify_audit` reports sequence gaps and a missing chain head with a non-zero exit.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command, execute_from_command_line
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

from accessportal.kernel.audit import (
    AuditEntry,
    audit_record,
    audit_record_many,
    audit_verify,
    event_hash,
)
from accessportal.kernel.models import AuditChainHead, AuditEvent
from requests_app.services.access_requests import access_request_create

TABLE = "requests_app_auditevent"
HEAD = "requests_app_auditchainhead"


def _refused(action) -> None:
    """`action` is refused by the database, and the refusal names the append-only rule."""
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        action()


@pytest.mark.postgres
def test_database_refuses_orm_update_and_delete_of_audit_events(history):
    victim = history[1]
    before = [(e.seq, e.data, e.hash) for e in AuditEvent.objects.order_by("seq")]

    def save_edit():
        event = AuditEvent.objects.get(pk=victim.pk)
        event.data = {"reason": "nothing to see"}
        event.save()

    _refused(save_edit)
    _refused(lambda: AuditEvent.objects.filter(pk=victim.pk).update(actor_name="someone"))
    _refused(lambda: AuditEvent.objects.get(pk=victim.pk).delete())
    _refused(lambda: AuditEvent.objects.all().delete())
    assert [(e.seq, e.data, e.hash) for e in AuditEvent.objects.order_by("seq")] == before
    assert audit_verify().ok


def _sql(sql, params=None):
    def run():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    return run


@pytest.mark.postgres
def test_database_refuses_raw_sql_update_and_delete(history):
    count = AuditEvent.objects.count()
    _refused(_sql(f"UPDATE {TABLE} SET data = '{{}}'::jsonb WHERE seq = 1"))
    _refused(_sql(f"DELETE FROM {TABLE} WHERE seq = (SELECT max(seq) FROM {TABLE})"))
    assert AuditEvent.objects.count() == count
    assert audit_verify().ok


@pytest.fixture
def app_role(db):
    """Run the test's SQL as the production application would: a role that is no superuser
    and does not own the tables, but holds every privilege on them (TRUNCATE included, the
    worst a one-role set-up grants). Created inside the test's transaction, so it is gone
    with it."""
    name = connection.ops.quote_name(f"{connection.settings_dict['NAME']}_app"[:63])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {name} NOLOGIN NOSUPERUSER")
        cursor.execute(f"GRANT ALL PRIVILEGES ON ALL TABLES IN SCHEMA public TO {name}")
        cursor.execute(f"GRANT ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public TO {name}")
        cursor.execute(f"SET ROLE {name}")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False,)
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


@pytest.mark.postgres
def test_the_app_role_cannot_change_remove_or_wipe_events_even_with_the_old_opt_in(
    history, app_role
):
    """Before migration 0008, `SET accessportal.allow_audit_truncate = 'on'` let any role
    with TRUNCATE wipe the log; no setting opens it now."""
    before = [(e.seq, e.hash) for e in AuditEvent.objects.order_by("seq")]
    _sql("SET accessportal.allow_audit_truncate = 'on'")()
    _refused(_sql(f"UPDATE {TABLE} SET actor_name = 'someone' WHERE seq = 1"))
    _refused(_sql(f"DELETE FROM {TABLE} WHERE seq = (SELECT max(seq) FROM {TABLE})"))
    _refused(_sql(f"TRUNCATE {TABLE}"))
    _refused(_sql(f"TRUNCATE {TABLE}, {HEAD}"))
    _refused(_sql(f"TRUNCATE {TABLE} CASCADE"))
    assert [(e.seq, e.hash) for e in AuditEvent.objects.order_by("seq")] == before
    assert audit_verify().ok


@pytest.mark.postgres
def test_the_app_role_cannot_set_the_chain_head_back_or_remove_it(history, app_role):
    """Deleting the newest events is refused above; setting the head back to an older event
    (so that a truncated chain would verify) is refused too, as is any move that does not
    follow the chain, a second head, or removing the head."""
    _sql("SET accessportal.allow_audit_truncate = 'on'")()
    older = history[-2]
    _refused(_sql(f"UPDATE {HEAD} SET seq = %s, hash = %s", [older.seq, older.hash]))
    _refused(_sql(f"UPDATE {HEAD} SET seq = 0, hash = repeat('0', 64)"))
    _refused(_sql(f"UPDATE {HEAD} SET seq = seq + 1"))  # no such event yet
    _refused(_sql(f"UPDATE {HEAD} SET hash = repeat('f', 64)"))
    _refused(_sql(f"DELETE FROM {HEAD}"))
    _refused(_sql(f"TRUNCATE {HEAD}"))
    _refused(
        _sql(f"INSERT INTO {HEAD} (id, seq, hash) VALUES (2, %s, %s)", [older.seq, older.hash])
    )
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (history[-1].seq, history[-1].hash)
    assert audit_verify().ok


@pytest.mark.postgres
def test_the_app_role_still_appends_and_moves_the_head_forward(history, app_role):
    with transaction.atomic():
        audit_record(action="test.appended", target_type="test", target_id="1")
        audit_record_many([AuditEntry("test.bulk", "test", str(n)) for n in range(3)])
    report = audit_verify()
    assert report.ok and report.checked == len(history) + 4
    assert AuditChainHead.objects.get(pk=1).seq == len(history) + 4


@pytest.mark.postgres
def test_appending_still_works_under_the_trigger(history):
    with transaction.atomic():
        audit_record(action="test.appended", target_type="test", target_id="1")
    assert audit_verify().ok and audit_verify().checked == len(history) + 1


def _forge_event(seq: int) -> AuditEvent:
    """Insert a well-formed, correctly hashed event at `seq` (inserting is not refused)."""
    last = AuditEvent.objects.order_by("-seq").first()
    event = AuditEvent(
        seq=seq,
        created=last.created,
        actor_name="mallory",
        action="request.approved",
        target_type="access_request",
        target_id="forged",
        data={},
        prev_hash=last.hash,
    )
    event.hash = event_hash(event)
    event.save(force_insert=True)
    return event


def test_verify_audit_reports_a_sequence_gap_with_a_failing_exit_code(history, capsys):
    forged = _forge_event(seq=len(history) + 2)  # skips one number
    report = audit_verify()
    assert not report.ok and "sequence gap" in report.problem
    assert report.seq == len(history) + 1
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "verify_audit"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "BROKEN" in err and f"found #{forged.seq}" in err


def test_verify_audit_reports_a_forged_event_appended_without_the_chain_head(history):
    _forge_event(seq=len(history) + 1)  # a perfect link, but the head row was not moved
    report = audit_verify()
    assert not report.ok and "head says" in report.problem


def test_deleted_chain_head_is_reported_and_stops_appends(history, audit_tampering):
    AuditChainHead.objects.all().delete()
    report = audit_verify()
    assert not report.ok and "head is missing" in report.problem
    with pytest.raises(RuntimeError, match="head is missing"):
        access_request_create(
            requester=get_user_model().objects.get(username="alice"),
            roles=["dev-admin"],
            reason="x",
        )


def test_intact_chain_exits_zero_and_prints_the_newest_hash_to_anchor(history, capsys):
    """An insider who rewrites the whole chain and its head is caught by comparing the
    newest hash with one recorded outside the database (docs/SECURITY.md)."""
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"{len(history)} event(s) verified" in out
    assert f"newest #{history[-1].seq} sha256 {history[-1].hash}" in out


def test_an_emptied_database_starts_a_new_chain(transactional_db):
    """`manage.py flush` (and every test flush) empties the head's table too: the first
    append recreates the head rather than failing every change from then on."""
    call_command("flush", "--noinput", verbosity=0)
    assert not AuditChainHead.objects.exists()
    with transaction.atomic():
        first = audit_record(action="test.first", target_type="test", target_id="1")
    assert first.seq == 1 and audit_verify().ok


def test_deleting_a_user_who_acted_is_refused_and_the_chain_stays_intact(outsider):
    """actor_id is part of each event's hash: deleting the account (which would null it)
    is refused; accounts are deactivated instead."""
    with transaction.atomic():
        audit_record(action="test.by_outsider", target_type="test", target_id="1", actor=outsider)
    with pytest.raises(ProtectedError):
        outsider.delete()
    event = AuditEvent.objects.get(action="test.by_outsider")
    assert (event.actor_id, event.actor_name) == (outsider.pk, "mallory")
    assert audit_verify().ok
