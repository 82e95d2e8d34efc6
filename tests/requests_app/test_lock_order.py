"""The audit chain head is taken last: no write waits behind a policy apply's resync.

A policy apply rewrites the visibility rows of every pending request. It used to do that
after appending its audit events, so it held the one global lock (the chain head) for the
whole resync, and every request creation, review and revocation in the system queued
behind it. Here the apply is held inside its resync (a second session holds the pending
requests' rows, which the resync's inserts must reference) while a requester creates a
request on a third session: the creation must finish, not queue behind the apply.

Nothing here measures time: the test watches PostgreSQL's lock table and fails the moment
the creation is found waiting for the apply's session.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from policies_app.loader import plan_from_texts
from policies_app.services.apply import policies_apply
from policies_app.services.roles_resources import role_delete
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from tests.concurrency import JOIN_TIMEOUT, blockers, wait_until

pytestmark = pytest.mark.postgres

PENDING = 60

POLICY = """
kind: role
name: requester
spec:
  allow:
    request: {roles: [db-admin]}
---
kind: role
name: db-admin
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: [db-admin]}
---
kind: user
name: dave
roles: [requester]
---
kind: user
name: rev01
roles: [reviewer]
---
kind: user
name: rev02
roles: [reviewer]
---
kind: user
name: newrev
roles: []
"""

# The change whose resync rewrites the rows of every pending request: rev02 may no longer
# review, newrev now may.
CHANGED = POLICY.replace("name: newrev\nroles: []", "name: newrev\nroles: [reviewer]").replace(
    "name: rev02\nroles: [reviewer]", "name: rev02\nroles: []"
)


@pytest.fixture
def pending(transactional_db, apply_yaml):
    apply_yaml(POLICY)
    dave = get_user_model().objects.get(username="dave")
    return [
        access_request_create(requester=dave, roles=["db-admin"], reason=f"INC-{i}").id
        for i in range(PENDING)
    ]


class _Session(threading.Thread):
    """Runs `call` on its own connection; `pid` is its PostgreSQL backend once started."""

    def __init__(self, call):
        super().__init__(daemon=True)
        self.call, self.pid, self.value, self.error = call, None, None, None
        self.started_work = threading.Event()

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (self.pid,) = cursor.fetchone()
            self.started_work.set()
            self.value = self.call()
        except BaseException as err:  # noqa: BLE001 - reported to the test
            self.error = err
        finally:
            self.started_work.set()
            connection.close()


def _hold_pending_rows(ids, locked: threading.Event, release: threading.Event):
    def hold():
        with transaction.atomic():
            # The write's resync first moves reviewers between reviewer profiles: rev02
            # leaves theirs, so it stops at rev02's group membership row. (Not the request
            # rows: the foreign-key checks of its inserts are deferred to COMMIT, past the
            # audit append, where the head is held anyway.)
            through = get_user_model().groups.through
            list(through.objects.select_for_update().filter(user__username="rev02"))
            locked.set()
            assert release.wait(JOIN_TIMEOUT), "the test never released the rows"

    return hold


def _create_while_held(write, pending_ids):
    """Start `write` (a service whose resync covers `pending_ids`), hold it inside its
    resync (where the audit head used to be held), and create a request meanwhile.
    Returns the creation's session and the write's."""
    locked, release = threading.Event(), threading.Event()
    holder = _Session(_hold_pending_rows(pending_ids, locked, release))
    holder.start()
    assert locked.wait(JOIN_TIMEOUT)
    writer = _Session(write)
    writer.start()
    writer.started_work.wait(JOIN_TIMEOUT)
    wait_until(lambda: holder.pid in blockers(writer.pid), "the write waits in its resync")

    dave = get_user_model().objects.get(username="dave")
    creator = _Session(
        lambda: access_request_create(requester=dave, roles=["db-admin"], reason="INC-new")
    )
    creator.start()
    creator.started_work.wait(JOIN_TIMEOUT)
    try:
        wait_until(
            lambda: not creator.is_alive() or writer.pid in blockers(creator.pid),
            "the creation finished or waited",
        )
        waited_behind_write = creator.is_alive()
    finally:
        release.set()
        for session in (holder, writer, creator):
            session.join(JOIN_TIMEOUT)
    assert not waited_behind_write, "the request creation queued behind the policy write"
    for session in (holder, writer, creator):
        assert not session.is_alive() and session.error is None, repr(session.error)
    return creator, writer


def _reviewable_by(name: str) -> set:
    """The requests whose review rows reach `name` (through their reviewer profile): what
    the portal lists for them."""
    user = get_user_model().objects.get(username=name)
    return set(AccessRequest.objects.reviewable_by(user).values_list("pk", flat=True))


def test_a_request_is_created_while_a_policy_apply_resyncs_every_pending_request(pending):
    plan = plan_from_texts([("test.yaml", CHANGED)])
    creator, _ = _create_while_held(lambda: policies_apply(plan=plan), pending)

    new = creator.value
    # Reviewers see the new request the moment it is committed; the apply's resync reached
    # every request pending when it ran.
    assert _reviewable_by("rev01") == {*pending, new.id}
    assert _reviewable_by("newrev") >= set(pending)
    assert not _reviewable_by("rev02") & set(pending)
    # The creation appended its event while the apply was held: the apply appended last.
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-3:] == ["request.created", "user.policy_set", "user.policy_set"]
    assert audit_verify().ok


def test_a_request_is_created_while_a_role_deletion_resyncs_every_pending_request(pending):
    """Deleting a role takes reviewers away from every pending request; the resync deletes
    their rows, and the holder's locks on the requests stop it there."""
    creator, _ = _create_while_held(lambda: role_delete(name="reviewer", actor=None), pending)

    assert creator.value.id in set(AccessRequest.objects.values_list("pk", flat=True))
    assert not _reviewable_by("rev01") & set(pending)
    actions = list(AuditEvent.objects.order_by("seq").values_list("action", flat=True))
    assert actions[-2:] == ["request.created", "role.deleted"]
    assert audit_verify().ok
