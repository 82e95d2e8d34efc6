"""A real Celery worker process (with beat), a real Redis broker and PostgreSQL.

The worker runs `celery -A accessportal worker --beat` against pytest-django's test database
(committed data: transactional_db), with Redis DB 1 under a key prefix of its own. Webhooks
go to a real HTTP server in this process, which verifies each signature with the snippet
from docs/notifications.md. Waiting is by polling the database until a deadline.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from accessportal.kernel.choices import OutboxState
from requests_app.models import (
    AccessRequest,
    Grant,
    NotificationDelivery,
    OutboxMessage,
)
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.worker_support import (
    REDIS_URL,
    WorkerProcess,
    broker,
    delete_broker_keys,
    hooks,
    webhook_receiver,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

DEAD_BROKER = "redis://127.0.0.1:9/0"


def eventually(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def live(chain_head, base_policy, apply_yaml, monkeypatch, tmp_path):
    """A webhook receiver with a rule sending every event to it, and a key prefix for Redis."""
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    workers: list[WorkerProcess] = []
    with webhook_receiver(apply_yaml, monkeypatch) as receiver:

        class Live:
            def __init__(self):
                self.receiver, self.prefix = receiver, prefix

            def start_worker(self) -> WorkerProcess:
                worker = WorkerProcess(tmp_path, prefix, {})
                workers.append(worker)
                return worker

        yield Live()
        for worker in workers:
            worker.stop()
    delete_broker_keys(prefix)


def test_worker_ends_a_grant_at_expiry_and_delivers_signed_webhooks(live, user):
    alice, bob = user("alice"), user("bob")
    worker = live.start_worker()
    with broker(REDIS_URL, key_prefix=live.prefix):
        request = access_request_create(requester=alice, roles=["db-admin"], max_duration="3s")
        request = review_submit(request_id=request.id, reviewer=bob, state="APPROVED", reason="ok")
    grant = Grant.objects.get(request=request)
    assert access_check(user=alice, role="db-admin").allowed

    # The ETA task queued at approval records the end; its message reaches the receiver.
    worker.wait_until(lambda: hooks(live.receiver, "access.ended"), "the access.ended webhook")
    grant.refresh_from_db()
    assert grant.ended_at is not None and grant.ended_at >= grant.expires
    assert not access_check(user=alice, role="db-admin").allowed

    worker.wait_until(
        lambda: not OutboxMessage.objects.exclude(state=OutboxState.SENT).exists(),
        "every message to be sent",
    )
    events = sorted(r.event for r in live.receiver.received)
    assert events == ["access.ended", "request.approved", "request.created"]
    assert all(r.verified for r in live.receiver.received)
    [ended] = hooks(live.receiver, "access.ended")
    assert ended.json["request_id"] == str(request.id) and ended.json["data"]["user"] == "alice"


def test_broker_outage_loses_no_request_and_no_notification(live, user):
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    with broker(DEAD_BROKER):  # the web side cannot reach the broker at all
        first = access_request_create(requester=alice, roles=["db-admin"], reason="INC-1")
        second = access_request_create(requester=alice, roles=["dev-admin"], reason="INC-2")
        review_submit(request_id=first.id, reviewer=bob, state="APPROVED", reason="ok")
        review_submit(request_id=second.id, reviewer=carol, state="DENIED", reason="no")
    assert AccessRequest.objects.count() == 2
    kept = OutboxMessage.objects.filter(state=OutboxState.PENDING, routed_at=None)
    assert kept.count() == 4

    live.start_worker().wait_until(
        lambda: OutboxMessage.objects.filter(state=OutboxState.SENT).count() == 4,
        "the four kept messages to be sent once the broker is back",
    )
    delivered = sorted((r.event, r.json["request_id"]) for r in live.receiver.accepted())
    assert delivered == sorted(
        [
            ("request.created", str(first.id)),
            ("request.created", str(second.id)),
            ("request.approved", str(first.id)),
            ("request.denied", str(second.id)),
        ]
    )
    assert len(live.receiver.received) == 4  # each once
    assert all(r.verified for r in live.receiver.received)


def test_worker_killed_while_sending_sends_once_after_restart(live, user):
    live.receiver.hold_first = True
    worker = live.start_worker()
    with broker(REDIS_URL, key_prefix=live.prefix):
        access_request_create(requester=user("alice"), roles=["db-admin"])
    assert live.receiver.first_arrived.wait(60), worker.output()
    worker.kill()  # mid-request: the receiver has the body, the worker never hears back
    live.receiver.release()

    delivery = NotificationDelivery.objects.get(channel="webhook")
    assert delivery.state == OutboxState.PENDING and delivery.attempts == 1
    assert delivery.claimed_until is not None  # its lease runs out, then it is retried

    restarted = live.start_worker()
    restarted.wait_until(
        lambda: OutboxMessage.objects.get(event="request.created").state == OutboxState.SENT,
        "the delivery to be sent after the restart",
    )
    delivery.refresh_from_db()
    assert delivery.state == OutboxState.SENT and delivery.attempts == 2
    [accepted] = live.receiver.accepted()
    assert accepted.verified
    # The receiver saw the interrupted attempt and the retry, with the same delivery id.
    ids = {r.headers["X-AccessPortal-Delivery"] for r in live.receiver.received}
    assert ids == {str(delivery.id)} and len(live.receiver.received) == 2
    assert delivery.sent_at - delivery.created < timedelta(minutes=5)
