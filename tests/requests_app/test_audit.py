"""The audit chain: intact chains verify; edits, deletions and insertions are caught."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from accessportal.kernel.audit import audit_record, audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.services.access_requests import access_request_create


def test_intact_chain_verifies(history, capsys):
    report = audit_verify()
    assert report.ok and report.checked == len(history) > 9
    call_command("verify_audit")
    assert f"{len(history)} event(s) verified" in capsys.readouterr().out


def test_sequence_numbers_have_no_gaps_and_link(history):
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(history, history[1:], strict=False))


def test_edited_event_is_detected(history, audit_tampering):
    victim = history[4]
    AuditEvent.objects.filter(pk=victim.pk).update(data={"reason": "nothing to see"})
    report = audit_verify()
    assert not report.ok and report.seq == victim.seq and "altered" in report.problem
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("verify_audit")


def test_edited_actor_is_detected(history, audit_tampering):
    AuditEvent.objects.filter(pk=history[2].pk).update(actor_name="someone-else")
    assert audit_verify().seq == history[2].seq


def test_deleted_event_in_the_middle_is_detected(history, audit_tampering):
    AuditEvent.objects.filter(pk=history[3].pk).delete()
    report = audit_verify()
    assert not report.ok and "gap" in report.problem and report.seq == history[3].seq


def test_deleted_newest_event_is_detected(history, audit_tampering):
    AuditEvent.objects.filter(pk=history[-1].pk).delete()
    report = audit_verify()
    assert not report.ok and "newest events were deleted" in report.problem


def test_recomputed_hash_after_edit_still_breaks_the_next_link(history, audit_tampering):
    from accessportal.kernel.audit import event_hash

    victim = AuditEvent.objects.get(pk=history[1].pk)
    victim.data = {"forged": True}
    victim.hash = event_hash(victim)
    victim.save()
    report = audit_verify()
    assert not report.ok and report.seq == history[2].seq


def test_audit_needs_a_transaction(transactional_db, django_db_serialized_rollback):
    # Serialized rollback restores the audit chain head row (a data migration) when an
    # earlier transactional test (e.g. the accessctl live-server tests) flushed it.
    with pytest.raises(RuntimeError):
        audit_record(action="x", target_type="t", target_id="1")
    with transaction.atomic():
        audit_record(action="x", target_type="t", target_id="1")
    assert audit_verify().ok


def test_failed_change_leaves_no_audit_event(requester):
    from accessportal.kernel.errors import NotAllowed

    before = AuditEvent.objects.count()
    with pytest.raises(NotAllowed):
        access_request_create(requester=requester, roles=["auditor"])
    assert AuditEvent.objects.count() == before
