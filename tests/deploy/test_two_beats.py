"""Two Celery beats started from the beat unit against one Redis, with a worker: only the
one holding the lock (celery-redbeat, settings "Beat lock") sends the periodic tasks; when
it is killed, the other takes the lock and carries on. Nothing is sent twice."""

from __future__ import annotations

import json
import secrets

import pytest
import redis

from tests.deploy.stack import BEATS_DB, Service, Stack, clear_redis, database_url, redis_url
from tests.postgres_server import ScratchDatabase

pytestmark = [pytest.mark.postgres(direct=True), pytest.mark.redis]

LOCK_TIMEOUT = 6  # BEAT_LOCK_TIMEOUT: the shortest allowed, so the takeover comes soon


def messages(service: Service) -> list[str]:
    """The messages of a production process's JSON log lines."""
    found = []
    for line in service.output().splitlines():
        if line.startswith("{"):
            found.append(json.loads(line)["message"])
    return found


def heartbeats_sent(beat: Service) -> int:
    return sum(m.startswith("Scheduler: Sending due task heartbeat ") for m in messages(beat))


def heartbeats_received(worker: Service) -> int:
    return sum(
        m.startswith("Task requests_app.tasks.heartbeat[") and m.endswith("] received")
        for m in messages(worker)
    )


def holds_lock(beat: Service) -> bool:
    return "beat: Acquired lock" in messages(beat)


@pytest.fixture
def stack(tmp_path):
    database = ScratchDatabase("ap_ops_scale")
    prefix = f"ap-beats-{database.suffix}:"
    values = {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(database.dbname),
        "CELERY_BROKER_URL": redis_url(BEATS_DB),
        "CELERY_REDIS_KEY_PREFIX": prefix,
        "CACHE_URL": redis_url(BEATS_DB),
        "NOTIFY_REQUEST_URL": "https://127.0.0.1/requests/{id}/",
        "NOTIFY_EMAIL_USERS": "false",
        "HEALTH_HEARTBEAT_INTERVAL": "1",
        "BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
    }
    stack = Stack(tmp_path, values)
    try:
        stack.manage("migrate", "--noinput")
        yield stack
    finally:
        stack.stop()
        clear_redis(redis_url(BEATS_DB), prefix)
        database.drop()


def test_second_beat_waits_and_takes_over_when_the_first_is_killed(stack):
    worker = stack.start("worker", replace={"--concurrency=4": "--concurrency=1"})
    worker.wait_for(lambda: any(m.endswith(" ready.") for m in messages(worker)), "the worker")
    first = stack.start("beat", label="beat-1")
    first.wait_for(lambda: holds_lock(first), "the first beat to take the lock")
    second = stack.start("beat", label="beat-2")
    second.wait_for(lambda: "beat: Starting..." in messages(second), "the second beat to start")

    # Both run: the first keeps sending, the second sends nothing.
    already = heartbeats_sent(first)
    first.wait_for(lambda: heartbeats_sent(first) >= already + 5, "five more heartbeats")
    assert heartbeats_sent(second) == 0 and not holds_lock(second)
    # The lock expires on its own unless extended: a dead leader cannot hold it for ever.
    client = redis.Redis.from_url(redis_url(BEATS_DB))
    lock_key = f"{stack_prefix(stack)}redbeat::lock"
    assert 0 < client.pttl(lock_key) <= LOCK_TIMEOUT * 1000

    first.kill()  # a crash, or its machine gone: the lock is not released
    sent_by_first = heartbeats_sent(first)
    second.wait_for(lambda: holds_lock(second), "the second beat to take the lock over")
    second.wait_for(lambda: heartbeats_sent(second) >= 3, "the second beat to send heartbeats")

    second.stop()  # SIGTERM: it releases the lock on the way out
    assert "beat: Releasing lock" in messages(second)
    assert client.exists(lock_key) == 0
    sent = sent_by_first + heartbeats_sent(second)
    # Every heartbeat sent reached the worker once: none was sent twice. The first beat may
    # have logged one it had no time to publish before it was killed.
    worker.wait_for(lambda: heartbeats_received(worker) >= sent - 1, "the heartbeats to arrive")
    assert sent - 1 <= heartbeats_received(worker) <= sent


def stack_prefix(stack: Stack) -> str:
    return stack.unit("beat").environment()["CELERY_REDIS_KEY_PREFIX"]
