"""The grant sweep skips a grant another transaction holds, and the next sweep ends it.

`grants_end_due` claims its batch in one statement (`claims.rows_claim`, FOR UPDATE SKIP
LOCKED): a held grant is neither waited for nor ended nor audited by that sweep. Real
sessions on PostgreSQL; nothing here measures time.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import grants_end_due
from requests_app.services.reviews import review_submit
from tests.concurrency import JOIN_TIMEOUT, blockers, wait_until

pytestmark = pytest.mark.postgres


class _Session(threading.Thread):
    """Runs `call` on its own connection; `pid` is its PostgreSQL backend once started."""

    def __init__(self, call):
        super().__init__(daemon=True)
        self.call, self.pid, self.value, self.error = call, None, None, None

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (self.pid,) = cursor.fetchone()
            self.value = self.call()
        except BaseException as err:  # noqa: BLE001 - reported to the test
            self.error = err
        finally:
            connection.close()


def _ended_audited() -> set[str]:
    return set(AuditEvent.objects.filter(action="grant.ended").values_list("target_id", flat=True))


def test_a_held_grant_is_skipped_by_the_sweep_and_ended_by_the_next(
    transactional_db, requester, reviewer
):
    request = access_request_create(
        requester=requester, roles=["db-admin", "dev-admin"], max_duration="1h"
    )
    request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    held, free = request.grants.order_by("pk")
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            list(Grant.objects.select_for_update().filter(pk=held.pk))
            locked.set()
            assert release.wait(JOIN_TIMEOUT), "the test never released the grant"

    holder = _Session(hold)
    holder.start()
    assert locked.wait(JOIN_TIMEOUT)
    sweeper = _Session(lambda: grants_end_due(now=request.access_expires))
    sweeper.start()
    try:
        wait_until(
            lambda: (
                not sweeper.is_alive()
                or (sweeper.pid is not None and holder.pid in blockers(sweeper.pid))
            ),
            "the sweep finished or waited",
        )
        waited = sweeper.is_alive()
    finally:
        release.set()
        for session in (holder, sweeper):
            session.join(JOIN_TIMEOUT)
    assert not waited, "the sweep waited for the held grant"
    for session in (holder, sweeper):
        assert not session.is_alive() and session.error is None, repr(session.error)
    assert sweeper.value == 1
    assert set(Grant.objects.exclude(ended_at=None).values_list("pk", flat=True)) == {free.pk}
    assert _ended_audited() == {str(free.pk)}
    # The request's access ended (no continuation): told once, on the first grant ended.
    assert OutboxMessage.objects.filter(event="access.ended").count() == 1

    assert grants_end_due(now=request.access_expires) == 1
    assert not Grant.objects.filter(ended_at=None).exists()
    assert _ended_audited() == {str(held.pk), str(free.pk)}
    assert grants_end_due(now=request.access_expires) == 0
