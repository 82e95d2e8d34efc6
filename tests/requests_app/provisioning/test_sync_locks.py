"""The provisioning sync's advisory locks on PostgreSQL: a sync of many users takes one
exclusive lock instead of a lock per user (the shared lock table holds a few thousand), and
a policy apply takes the exclusive lock before it syncs any user, so it never upgrades from
the shared side while an approval waits (a deadlock). SQLite has one writer at a time."""

from __future__ import annotations

import logging
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from policies_app.models import DirectoryGroup
from requests_app.models import ProvisionAssignment
from requests_app.services.access_requests import access_request_create
from requests_app.services.provisioning import sync as sync_mod
from requests_app.services.reviews import review_submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _waiting_for(pid: int) -> list[str]:
    """The kinds of lock (advisory, transactionid, ...) sessions wait for that `pid` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.locktype FROM pg_locks l WHERE NOT l.granted"
            " AND %s = ANY(pg_blocking_pids(l.pid))",
            [pid],
        )
        return [kind for (kind,) in cursor.fetchall()]


def _mine() -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::bigint, mode FROM pg_locks WHERE locktype = 'advisory'"
            " AND pid = pg_backend_pid()"
        )
        return cursor.fetchall()


class _Conflicts(logging.Handler):
    """The retries `retry_on_conflict` logs ("... lost a database conflict ...")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lost: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "lost a database conflict" in record.getMessage():
            self.lost.append(record.getMessage())


def test_a_sync_of_15000_users_takes_one_exclusive_lock(dbas):
    User = get_user_model()
    User.objects.bulk_create(User(username=f"bulk{i}", password="!") for i in range(15000))
    ids = list(User.objects.filter(username__startswith="bulk").values_list("pk", flat=True))
    with transaction.atomic():
        assert sync_mod.provisioning_sync(ids) == 0  # none of them holds db-admin
        assert _mine() == [(sync_mod.ALL_LOCK_CLASS, "ExclusiveLock")]
    with transaction.atomic():
        sync_mod.lock_users(ids[: sync_mod.LOCK_USERS_MAX])  # at the threshold: per user
        held = _mine()
        assert (sync_mod.ALL_LOCK_CLASS, "ShareLock") in held
        assert len(held) == sync_mod.LOCK_USERS_MAX + 1


def test_an_apply_syncing_directory_users_and_an_approval_do_not_deadlock(
    dbas, apply_yaml, requester, reviewer, monkeypatch
):
    """The apply changes an sso_mapping: alice (in the directory group) gains a role, her
    assignments are synced, then every target is. An approval of alice's request runs
    meanwhile. The apply holds the exclusive lock from before alice's sync, so the approval
    waits for it instead of taking the shared side and a user lock the apply then needs.
    Since the access check's permission versions (issue 22) the approval already waits
    earlier, at alice's version row, which the apply updated when her roles changed and her
    grant's trigger updates too; either way it waits for the apply and nothing deadlocks."""
    group = DirectoryGroup.objects.create(provider="okta", display_name="eng-pay")
    group.members.add(requester)
    request = access_request_create(
        requester=requester, roles=["db-admin"], resources=[], reason="INC-1"
    )
    synced, go = threading.Event(), threading.Event()
    apply_pid: list[int] = []
    real = sync_mod.desired_targets_for_users

    def pausing(*args, **kwargs):
        out = real(*args, **kwargs)
        if threading.current_thread().name == "apply" and not synced.is_set():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                apply_pid.append(cursor.fetchone()[0])
            synced.set()  # alice's locks are held: let the approval start
            go.wait(60)
        return out

    monkeypatch.setattr(sync_mod, "desired_targets_for_users", pausing)
    errors: list[BaseException] = []

    def thread(name, call):
        def run():
            try:
                call()
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)
            finally:
                connection.close()

        return threading.Thread(target=run, name=name, daemon=True)

    mapping = (
        "kind: sso_mapping\nname: okta\nspec:\n  claims_to_roles:\n"
        "    - {claim: groups, value: eng-pay, roles: [dev-admin]}\n"
    )
    apply = thread("apply", lambda: apply_yaml(mapping))
    approval = thread(
        "approval",
        lambda: review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED"),
    )
    conflicts = _Conflicts()
    locking_log = logging.getLogger("accessportal.kernel.locking")
    locking_log.addHandler(conflicts)
    monkeypatch.setattr(locking_log, "level", logging.WARNING)
    apply.start()
    assert synced.wait(30), f"the apply never synced alice: {errors}"
    approval.start()
    for _ in range(600):  # the approval is queued behind one of the apply's locks
        if _waiting_for(apply_pid[0]):
            break
        threading.Event().wait(0.05)
    assert _waiting_for(apply_pid[0]), "the approval never waited for the apply"
    go.set()
    apply.join(60)
    approval.join(60)
    assert not errors, errors
    locking_log.removeHandler(conflicts)
    assert conflicts.lost == [], conflicts.lost  # no deadlock, nothing replayed
    assert ProvisionAssignment.objects.get(user=requester, target__retired_at=None).desired
