"""Celery beat from the beat unit, with a worker, on a private `redis-server`
(tests/redis_server.py): two beats, of which only the lock holder (celery-redbeat, settings
"Beat lock") sends, whether the other is killed or paused; and a beat that carries on when
Redis loses its data (FLUSHDB, a restart without it) or is down when beat starts.

"Nothing is sent twice" is checked on the beats' own log lines: the heartbeat is due every
HEARTBEAT seconds, so two beats both sending would show two heartbeats sent closer together
than that (half of it is the bound used, far from any scheduling jitter)."""

from __future__ import annotations

import datetime
import os
import secrets
import signal

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.deploy.stack import Service, Stack, database_url, redis_url
from tests.postgres_server import ScratchDatabase
from tests.redis_server import INSTALL_HINT, RedisServer, redis_server_installed

# A whole deployment on its own scratch database: run once, in the PostgreSQL pass (CI runs
# the suite on SQLite and on PostgreSQL; these do the same work in both).
pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LOCK_TIMEOUT = 6  # BEAT_LOCK_TIMEOUT: the shortest allowed, so the takeover comes soon
HEARTBEAT = 1  # HEALTH_HEARTBEAT_INTERVAL, seconds
SENDING = "Scheduler: Sending due task heartbeat "
LOST_LOCK = "beat: this beat no longer holds the lock"


def heartbeat_times(*beats: Service) -> list[datetime.datetime]:
    """When each heartbeat was sent, by any of `beats`, in order."""
    return sorted(
        datetime.datetime.fromisoformat(record["timestamp"])
        for beat in beats
        for record in beat.records()
        if record["message"].startswith(SENDING)
    )


def heartbeats_sent(beat: Service) -> int:
    return len(heartbeat_times(beat))


def heartbeats_received(worker: Service) -> int:
    return sum(
        m.startswith("Task requests_app.tasks.heartbeat[") and m.endswith("] received")
        for m in worker.messages()
    )


def assert_sent_once_per_interval(*beats: Service, since: datetime.datetime | None = None):
    times = [t for t in heartbeat_times(*beats) if since is None or t >= since]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert gaps and min(gaps) >= HEARTBEAT / 2, f"two heartbeats in one interval: {times}"


def holds_lock(beat: Service) -> bool:
    return beat.messages().count("beat: Acquired lock") > 0


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    if not redis_server_installed():
        if REQUIRE_SERVICES:
            pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def values(redis_server, tmp_path_factory):
    """One migrated database for the module; each test its own processes and Redis data."""
    database = ScratchDatabase("ap_ops_scale_fix")
    values = {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(database.dbname),
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_REDIS_KEY_PREFIX": f"ap-beats-{database.suffix}:",
        "CACHE_URL": redis_url(1, base=redis_server.url),
        "NOTIFY_REQUEST_URL": "https://127.0.0.1/requests/{id}/",
        "NOTIFY_EMAIL_USERS": "false",
        "HEALTH_HEARTBEAT_INTERVAL": str(HEARTBEAT),
        "BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        "METRICS_TOKEN": secrets.token_urlsafe(32),  # the example's change-me is refused
    }
    try:
        Stack(tmp_path_factory.mktemp("migrate"), values).manage("migrate", "--noinput")
        yield values
    finally:
        database.drop()


@pytest.fixture
def stack(values, redis_server, tmp_path):
    stack = Stack(tmp_path, values)
    try:
        yield stack
    finally:
        stack.stop()
        if redis_server.process.poll() is None:
            redis_server.client().flushall()


def start_worker(stack: Stack) -> Service:
    worker = stack.start("worker", replace={"--concurrency=4": "--concurrency=1"})
    worker.wait_for(lambda: any(m.endswith(" ready.") for m in worker.messages()), "the worker")
    return worker


def test_second_beat_waits_and_takes_over_when_the_first_is_killed(stack, redis_server):
    worker = start_worker(stack)
    first = stack.start("beat", label="beat-1")
    first.wait_for(lambda: holds_lock(first), "the first beat to take the lock")
    second = stack.start("beat", label="beat-2")
    second.wait_for(lambda: "beat: Starting..." in second.messages(), "the second beat")

    # Both run: the first keeps sending, the second sends nothing.
    already = heartbeats_sent(first)
    first.wait_for(lambda: heartbeats_sent(first) >= already + 5, "five more heartbeats")
    assert heartbeats_sent(second) == 0 and not holds_lock(second)
    # The lock expires on its own unless extended: a dead leader cannot hold it for ever.
    client = redis_server.client()
    lock_key = f"{stack_prefix(stack)}redbeat::lock"
    assert 0 < client.pttl(lock_key) <= LOCK_TIMEOUT * 1000

    first.kill()  # a crash, or its machine gone: the lock is not released
    second.wait_for(lambda: holds_lock(second), "the second beat to take the lock over")
    second.wait_for(lambda: heartbeats_sent(second) >= 3, "the second beat to send heartbeats")

    second.stop()  # SIGTERM: it releases the lock on the way out
    assert "beat: Releasing lock" in second.messages()
    assert client.exists(lock_key) == 0
    assert_sent_once_per_interval(first, second)
    # The first beat may have logged one it had no time to publish before it was killed.
    sent = heartbeats_sent(first) + heartbeats_sent(second)
    worker.wait_for(lambda: heartbeats_received(worker) >= sent - 1, "the heartbeats to arrive")
    assert heartbeats_received(worker) <= sent


def test_a_paused_leader_sends_nothing_once_resumed_after_the_other_took_over(stack):
    start_worker(stack)
    first = stack.start("beat", label="beat-1")
    first.wait_for(lambda: heartbeats_sent(first) >= 2, "the first beat to send")
    second = stack.start("beat", label="beat-2")
    second.wait_for(lambda: "beat: Starting..." in second.messages(), "the second beat")

    # Paused (SIGSTOP: a frozen VM, a long GC pause) past BEAT_LOCK_TIMEOUT: the lock runs
    # out and the second beat takes it.
    os.kill(first.process.pid, signal.SIGSTOP)
    try:
        sent_by_first = heartbeats_sent(first)
        second.wait_for(lambda: heartbeats_sent(second) >= 2, "the second beat to take over")
    finally:
        os.kill(first.process.pid, signal.SIGCONT)
    first.wait_for(lambda: LOST_LOCK in " ".join(first.messages()), "the first to see it lost")
    already = heartbeats_sent(second)
    second.wait_for(lambda: heartbeats_sent(second) >= already + 3, "three more heartbeats")

    assert heartbeats_sent(first) == sent_by_first  # resumed, it sent nothing more
    assert_sent_once_per_interval(first, second)


def test_beat_sends_again_after_redis_loses_its_data_or_is_down_at_start(stack, redis_server):
    worker = start_worker(stack)
    first = stack.start("beat", label="beat-1")

    def more_heartbeats(count: int) -> None:
        already = heartbeats_received(worker)
        worker.wait_for(
            lambda: heartbeats_received(worker) >= already + count, f"{count} more heartbeats"
        )

    more_heartbeats(2)
    redis_server.client().flushdb()  # the schedule and the lock are gone with the rest
    more_heartbeats(3)
    assert any(m.startswith("beat: the schedule is missing") for m in first.messages())

    # Redis down (killed: nothing saved), a second beat started meanwhile, then Redis back
    # empty: a restart without data, or a failover to an empty replica.
    redis_server.stop()
    second = stack.start("beat", label="beat-2")
    second.wait_for(
        lambda: any("Redis unreachable" in m for m in second.messages()),
        "the second beat to say that Redis is unreachable",
    )
    redis_server.start()
    restarted = datetime.datetime.now(datetime.UTC)
    more_heartbeats(3)

    for beat in (first, second):
        assert beat.alive(), beat.output()
        assert "Traceback" not in beat.output(), beat.output()
    # Since the restart (the lost data took the last send times along: the first heartbeat
    # after a loss is sent at once), one beat sends.
    assert_sent_once_per_interval(first, second, since=restarted)


def stack_prefix(stack: Stack) -> str:
    return stack.unit("beat").environment()["CELERY_REDIS_KEY_PREFIX"]
