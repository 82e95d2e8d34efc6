"""The account in the target is worked out when a call is claimed and saved before the
call: a revoke takes out the account that was granted, even after the user is renamed."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from accessportal.kernel.choices import AuditAction
from accessportal.kernel.models import AuditEvent
from accessportal.provisioners.base import ProvisionError
from requests_app.models import ProvisionAssignment
from requests_app.services.grants import access_request_revoke
from requests_app.services.provisioning.reconcile import provision_reconcile
from requests_app.services.provisioning.worker import provision_run


def _rename(user, name: str) -> None:
    get_user_model().objects.filter(pk=user.pk).update(username=name)


def test_a_rename_between_grant_and_revoke_removes_the_account_granted(
    dbas, approve, requester, work
):
    request = approve("db-admin")
    work()
    assert dbas.members == {"uid=alice"}
    _rename(requester, "alice-renamed")
    access_request_revoke(request_id=request.id, actor=requester, reason="done")
    work()
    row = ProvisionAssignment.objects.get(user=requester)
    assert dbas.members == set()
    assert (row.display_state, row.account) == ("removed", "uid=alice")


def test_a_rename_while_the_grant_is_in_flight_removes_the_account_granted(
    dbas, approve, requester, plugin, work
):
    """The grant's answer is stale (revoked meanwhile): its account was saved at claim."""
    request = approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)

    def mid_call(operation, account):
        if operation == "grant":
            plugin.HOOK = None
            _rename(requester, "alice-renamed")
            access_request_revoke(request_id=request.id, actor=requester, reason="x")

    plugin.HOOK = mid_call
    assert provision_run(assignment_id=row.pk) == "stale"
    work()
    provision_reconcile()
    row.refresh_from_db()
    assert dbas.members == set() and row.display_state == "removed"


def test_a_grant_whose_answer_was_lost_then_a_rename_removes_the_account_granted(
    dbas, approve, requester, plugin, work
):
    """The grant failed (timed out) after the target added the account."""
    request = approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)

    def lost_answer(operation, account):
        if operation == "grant":
            plugin.HOOK = None
            dbas.members = dbas.members | {account}
            raise ProvisionError("timed out after 10 s (answer lost)")

    plugin.HOOK = lost_answer
    assert provision_run(assignment_id=row.pk) == "failed"
    _rename(requester, "alice-renamed")
    access_request_revoke(request_id=request.id, actor=requester, reason="x")
    work()
    provision_reconcile()
    row.refresh_from_db()
    assert dbas.members == set() and row.display_state == "removed"


def _lose_the_grant_answer(plugin, dbas):
    def lost_answer(operation, account):
        if operation == "grant":
            plugin.HOOK = None
            dbas.members = dbas.members | {account}
            raise ProvisionError("timed out after 10 s (answer lost)")

    plugin.HOOK = lost_answer


def _due_now(row) -> None:
    ProvisionAssignment.objects.filter(pk=row.pk).update(next_attempt_at=row.created)


def test_a_retried_grant_for_a_renamed_user_takes_out_the_account_first_tried(
    dbas, approve, requester, plugin, work
):
    """The grant timed out after the target added uid=alice; alice is renamed; the retry
    grants uid=alice-renamed and takes uid=alice out first, so the revoke leaves nothing."""
    request = approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)
    _lose_the_grant_answer(plugin, dbas)
    assert provision_run(assignment_id=row.pk) == "failed"
    _rename(requester, "alice-renamed")
    _due_now(row)
    work()
    row.refresh_from_db()
    assert dbas.members == {"uid=alice-renamed"}
    assert (row.display_state, row.account) == ("applied", "uid=alice-renamed")
    applied = AuditEvent.objects.filter(action=AuditAction.PROVISION_APPLIED).latest("seq")
    assert applied.data["replaced_account"] == "uid=alice"
    access_request_revoke(request_id=request.id, actor=requester, reason="x")
    work()
    provision_reconcile()
    assert dbas.members == set()


def test_a_failed_revoke_of_the_old_account_keeps_it_saved_and_is_tried_again(
    dbas, approve, requester, plugin, work
):
    approve("db-admin")
    row = ProvisionAssignment.objects.get(user=requester)
    _lose_the_grant_answer(plugin, dbas)
    assert provision_run(assignment_id=row.pk) == "failed"
    _rename(requester, "alice-renamed")

    def revoke_fails(operation, account):
        if operation == "revoke":
            plugin.HOOK = None
            raise ProvisionError("connection refused")

    plugin.HOOK = revoke_fails
    _due_now(row)
    assert provision_run(assignment_id=row.pk) == "failed"
    row.refresh_from_db()
    assert row.account == "uid=alice" and dbas.members == {"uid=alice"}
    _due_now(row)
    assert provision_run(assignment_id=row.pk) == "applied"
    row.refresh_from_db()
    assert row.account == "uid=alice-renamed" and dbas.members == {"uid=alice-renamed"}


def test_a_regrant_while_the_revoke_is_failing_takes_out_the_old_account(
    dbas, approve, requester, work
):
    """The account's template changes (here: a rename, same effect) while the revoke of
    uid=alice is failing; re-approved, the grant of the new account takes the old one out."""
    first = approve("db-admin")
    work()
    dbas.mode("fail")
    access_request_revoke(request_id=first.id, actor=requester, reason="x")
    work()
    row = ProvisionAssignment.objects.get(user=requester)
    assert (row.desired, row.state, dbas.members) == (False, "FAILED", {"uid=alice"})
    _rename(requester, "alice-renamed")
    dbas.mode("")
    second = approve("db-admin")
    work()
    row = ProvisionAssignment.objects.get(user=requester)
    assert dbas.members == {"uid=alice-renamed"}
    assert (row.display_state, row.account) == ("applied", "uid=alice-renamed")
    access_request_revoke(request_id=second.id, actor=requester, reason="x")
    work()
    provision_reconcile()
    assert dbas.members == set()


def test_the_reconciler_compares_members_with_the_stored_account(
    apply_yaml, groups, approve, requester, work
):
    """A managed target: alice's granted account is hers after a rename, not unknown."""
    from tests.requests_app.provisioning.conftest import db_admin_provisioning

    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)))
    approve("db-admin")
    work()
    _rename(requester, "alice-renamed")
    report = provision_reconcile()
    assert not report.errors and sum(report.repairs.values()) == 0
    assert dbas.members == {"uid=alice"}
