"""Two changes of one user's access at once (revoke A while B, same role, is approved):
the per-user lock of `provisioning_sync` makes the second read the grants the first
committed, so `desired` ends True while B is open. PostgreSQL only (SQLite has one writer
at a time)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from requests_app.models import ProvisionAssignment
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.provisioning import sync as sync_mod
from requests_app.services.provisioning.worker import provision_due, provision_run
from requests_app.services.reviews import review_submit
from tests.concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_workers() -> None:
    """What the sweep runs, called directly (celery's eager mode is per thread)."""
    while due := provision_due():
        for pk in due:
            provision_run(assignment_id=pk)


def _desired(user) -> bool:
    return ProvisionAssignment.objects.get(user=user).desired


def _waiting_for_a_user_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = %s",
            [sync_mod.USER_LOCK_CLASS],
        )
        return cursor.fetchone()[0] > 0


def test_an_approval_committed_while_a_revoke_read_the_grants_keeps_access(
    dbas, approve, requester, reviewer, monkeypatch, work
):
    """The revoke reads the grants (B not approved yet) and pauses; the approval of B runs
    meanwhile. Without the lock the approval commits first and the revoke then writes
    desired=False; with it the approval waits for the revoke and then sees B's grant."""
    a = approve("db-admin")
    work()
    b = access_request_create(requester=requester, roles=["db-admin"], resources=[], reason="B")
    read, go = threading.Event(), threading.Event()
    real = sync_mod.desired_targets_for_users

    def pausing(*args, **kwargs):
        out = real(*args, **kwargs)
        if threading.current_thread().name == "revoker":
            read.set()
            go.wait(60)
        return out

    monkeypatch.setattr(sync_mod, "desired_targets_for_users", pausing)

    def in_thread(name, call, errors):
        def run():
            try:
                call()
            except Exception as err:  # noqa: BLE001 - reported below
                errors.append(err)
            finally:
                connection.close()

        return threading.Thread(target=run, name=name, daemon=True)

    errors: list[Exception] = []
    revoker = in_thread(
        "revoker",
        lambda: access_request_revoke(request_id=a.id, actor=requester, reason="A done"),
        errors,
    )
    approver = in_thread(
        "approver",
        lambda: review_submit(request_id=b.id, reviewer=reviewer, state="APPROVED"),
        errors,
    )
    revoker.start()
    assert read.wait(60)
    approver.start()
    # Until the approval waits for the revoke's user lock (or, without one, finishes).
    while approver.is_alive() and not _waiting_for_a_user_lock():
        approver.join(0.01)
    go.set()
    revoker.join(60)
    approver.join(60)
    assert not errors, errors
    assert _desired(requester) is True
    work()
    assert dbas.members == {"uid=alice"}


def test_revoke_versus_approval_of_the_same_role_many_times(dbas, approve, requester, reviewer):
    for _ in range(15):
        a = approve("db-admin")
        b = access_request_create(requester=requester, roles=["db-admin"], resources=[], reason="B")
        revoke, review = run_together(
            lambda a=a: access_request_revoke(request_id=a.id, actor=requester, reason="A"),
            lambda b=b: review_submit(request_id=b.id, reviewer=reviewer, state="APPROVED"),
        )
        assert revoke.ok and review.ok, (revoke.error, review.error)
        assert _desired(requester) is True  # B is open
        access_request_revoke(request_id=b.id, actor=requester, reason="B done")
        assert _desired(requester) is False
    _run_workers()
    assert dbas.members == set()
