"""A target that refuses or hangs: the failure is recorded (secrets redacted), retried with
backoff, notified once, and applied when the target comes back; other targets go on."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app.models import OutboxMessage, ProvisionAssignment
from requests_app.notifications.rendering import render_email
from requests_app.services.grants import access_request_revoke
from requests_app.services.provisioning.worker import provision_claim, provision_run
from tests.requests_app.provisioning.conftest import db_admin_provisioning

T0 = "2026-03-02 09:00Z"
SECRET = "s3cr3t-token-value"


def test_a_failure_is_redacted_retried_with_backoff_notified_once_then_applied(
    apply_yaml, base_policy, groups, approve, requester, work, monkeypatch, settings
):
    settings.PROVISION_RETRY_BACKOFF = 30
    monkeypatch.setenv("PROVISION_DBAS_TOKEN", SECRET)
    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml(token_env="PROVISION_DBAS_TOKEN")))
    dbas.mode("fail")
    with time_machine.travel(T0, tick=False) as clock:
        approve("db-admin")
        work()
        row = ProvisionAssignment.objects.get(user=requester)
        assert row.display_state == "failed" and row.attempts == 1
        assert "group dbas refused" in row.last_error
        assert SECRET not in row.last_error and "***" in row.last_error
        assert row.next_attempt_at == timezone.now() + timedelta(seconds=30)
        assert work() == 0  # not due before its backoff
        clock.shift(timedelta(seconds=30))
        work()
        row.refresh_from_db()
        assert row.attempts == 2 and row.display_state == "failed"
        assert row.next_attempt_at == timezone.now() + timedelta(seconds=60)  # doubled
        dbas.mode("")
        clock.shift(timedelta(seconds=60))
        work()
    row.refresh_from_db()
    assert row.display_state == "applied" and row.last_error == ""
    assert dbas.members == {"uid=alice"}
    failed = AuditEvent.objects.filter(action="provision.failed")
    assert failed.count() == 1  # the first failure only
    assert SECRET not in str(failed.get().data)
    messages = OutboxMessage.objects.filter(event="provision.failed")
    assert messages.count() == 1
    message = messages.get()
    assert set(message.recipients) == {"alice", "bob", "carol"}  # requester and reviewers
    assert SECRET not in str(message.payload)
    assert message.payload["target"] == "group dbas"
    email = render_email(message, recipient="bob")
    assert "Provisioning alice's access to db-admin failed" in email.subject
    assert 'Grant in files target "group dbas" failed for alice' in email.text
    assert SECRET not in email.text and SECRET not in email.html


def test_a_hanging_target_fails_within_its_timeout_and_others_go_on(
    apply_yaml, base_policy, groups, approve, requester, work
):
    slow, fine = groups("slow"), groups("fine")
    apply_yaml(db_admin_provisioning(slow.yaml(timeout=0.2), fine.yaml()))
    slow.mode("hang")
    approve("db-admin")
    work()
    states = {
        a.target.label: a.display_state
        for a in ProvisionAssignment.objects.select_related("target")
    }
    assert states == {"group slow": "failed", "group fine": "applied"}
    assert fine.members == {"uid=alice"}
    assert "timed out" in ProvisionAssignment.objects.get(target__label="group slow").last_error


def test_a_revoke_while_the_grant_call_is_in_flight_records_nothing_stale(
    dbas, approve, requester, plugin, work
):
    request = approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)

    def revoke_mid_call(operation, account):
        if operation == "grant":
            plugin.HOOK = None
            access_request_revoke(request_id=request.id, actor=requester, reason="changed mind")

    plugin.HOOK = revoke_mid_call
    assert provision_run(assignment_id=row.pk) == "stale"
    row.refresh_from_db()
    assert row.display_state == "revoking" and row.claimed_until is None
    assert not AuditEvent.objects.filter(action="provision.applied").exists()
    assert dbas.members == {"uid=alice"}  # the grant landed after the revoke was decided
    work()  # ... and the revoke runs right after it
    assert dbas.members == set()
    row.refresh_from_db()
    assert row.display_state == "removed"


def test_a_claimed_assignment_is_not_run_twice_at_once(dbas, approve, requester):
    approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)
    assert provision_claim(assignment_id=row.pk, now=timezone.now()) is not None
    assert provision_run(assignment_id=row.pk) == ""  # the lease is held
    assert dbas.members == set()
