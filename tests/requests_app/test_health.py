"""/healthz and /readyz as a load balancer sees them: liveness never touches the database;
readiness names each failing check (stale heartbeats, an unreachable broker, a notification
backlog, an unapplied migration) with a 503, and never shows a secret."""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from accessportal.kernel.choices import OutboxState
from requests_app.health.checks import reset_migrations_cache
from requests_app.models import Heartbeat, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.heartbeats import heartbeat_record
from requests_app.tasks import heartbeat
from tests.conftest import REQUIRE_SERVICES
from tests.redis_server import INSTALL_HINT, RedisServer, redis_server_installed
from tests.worker_support import REDIS_URL, broker

pytestmark = pytest.mark.django_db

BROKER_PASSWORD = "hunter2-broker-secret-5e1"


@pytest.fixture(autouse=True)
def _fresh_migrations_answer():
    reset_migrations_cache()
    yield
    reset_migrations_cache()


@pytest.fixture
def heartbeats():
    heartbeat_record(names=["worker", "beat"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens


def _ready(client):
    response = client.get("/readyz")
    body = response.json()
    return response.status_code, {c["name"]: c for c in body["checks"]}, body


def test_healthz_answers_ok_without_a_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_on_a_migrated_database_with_fresh_heartbeats(client, heartbeats):
    status, checks, body = _ready(client)
    assert status == 200 and body["status"] == "ok"
    assert list(checks) == ["database", "migrations", "broker", "heartbeats", "outbox"]
    for check in checks.values():
        assert check["state"] in {"ok", "skipped"}, check
        assert isinstance(check["ms"], float) and check["message"]
    # The suite runs tasks in-process: no broker to ask, and that is not a failure.
    assert checks["broker"]["state"] == "skipped"
    assert checks["outbox"]["message"] == "backlog 0, oldest undelivered none"


def test_the_migrations_answer_is_kept_once_positive(client, heartbeats):
    _ready(client)
    _, checks, _ = _ready(client)
    assert checks["migrations"]["message"] == "all applied (cached)"


def test_readyz_fails_when_a_heartbeat_is_stale(client, settings):
    settings.HEALTH_HEARTBEAT_MAX_AGE = 120
    heartbeat_record(names=["worker"])
    heartbeat_record(names=["beat"], at=timezone.now() - timedelta(minutes=10))
    status, checks, body = _ready(client)
    assert status == 503 and body["status"] == "fail"
    assert checks["heartbeats"]["state"] == "fail"
    message = checks["heartbeats"]["message"]
    assert message.startswith("stale (max 120 s): beat 600 s ago")
    assert "worker 0 s ago" in message
    assert checks["database"]["state"] == "ok"


def test_readyz_fails_when_no_worker_was_ever_seen(client):
    status, checks, _ = _ready(client)
    assert status == 503
    assert (
        checks["heartbeats"]["message"] == "stale (max 120 s): worker never seen, beat never seen"
    )


def test_a_failed_probe_logs_one_warning_naming_the_failure_not_a_django_error(client, caplog):
    with caplog.at_level(logging.INFO):
        status, _, _ = _ready(client)
    assert status == 503
    lines = [(r.name, r.levelname, r.getMessage()) for r in caplog.records]
    assert (
        "accessportal.health",
        "WARNING",
        "not ready: heartbeats: stale (max 120 s): worker never seen, beat never seen",
    ) in lines
    assert not [line for line in lines if line[0] == "django.request"]


def test_readyz_fails_when_the_broker_is_unreachable_and_says_so_in_bounded_time(
    client, heartbeats, settings
):
    settings.HEALTH_BROKER_TIMEOUT = 1
    url = f"redis://:{BROKER_PASSWORD}@127.0.0.1:{_closed_port()}/13"
    with broker(url):
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    check = {c["name"]: c for c in response.json()["checks"]}["broker"]
    assert check["state"] == "fail"
    assert check["message"].startswith("unreachable (")
    assert elapsed < 5, "the broker check is bounded by HEALTH_BROKER_TIMEOUT"
    # Neither the password nor the URL it sits in leaks into the body.
    text = response.content.decode()
    assert BROKER_PASSWORD not in text and "redis://" not in text


def test_readyz_gives_up_on_a_hung_broker_after_its_timeout(client, heartbeats, tmp_path):
    """A frozen redis-server (SIGSTOP: the port accepts, nothing answers) fails the check
    after HEALTH_BROKER_TIMEOUT instead of holding the probe."""
    if not redis_server_installed():
        if REQUIRE_SERVICES:
            pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    server = RedisServer(tmp_path)
    try:
        server.freeze()
        with broker(server.url):
            started = time.monotonic()
            status, checks, _ = _ready(client)
            elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert status == 503
    assert checks["broker"]["state"] == "fail"
    assert checks["broker"]["message"] == "no answer within 1 s"
    assert elapsed < 5, "bounded by HEALTH_BROKER_TIMEOUT, not the transport's own timeouts"


@pytest.mark.redis
def test_readyz_asks_a_real_broker(client, heartbeats):
    with broker(REDIS_URL.rsplit("/", 1)[0] + "/13"):
        status, checks, _ = _ready(client)
    assert status == 200
    assert checks["broker"]["state"] == "ok"
    assert checks["broker"]["message"] == "answered within 1 s"


def test_readyz_fails_when_the_notification_backlog_exceeds_its_threshold(
    client, heartbeats, base_policy, user, settings
):
    # A request writes a notification for its reviewers; no worker has routed it yet.
    access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-1")
    assert OutboxMessage.objects.filter(state=OutboxState.PENDING).exists()
    settings.HEALTH_OUTBOX_BACKLOG_MAX = 0
    status, checks, _ = _ready(client)
    assert status == 503
    assert checks["outbox"]["state"] == "fail"
    assert checks["outbox"]["message"].startswith("backlog more than 0, oldest undelivered")
    assert checks["outbox"]["message"].endswith("(backlog max 0)")

    settings.HEALTH_OUTBOX_BACKLOG_MAX = 1000
    assert _ready(client)[0] == 200


def test_readyz_fails_when_the_oldest_undelivered_message_is_too_old(
    client, heartbeats, base_policy, user, settings
):
    access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-2")
    # Test setup: the message has waited two hours (as if no worker had run since).
    OutboxMessage.objects.update(created=timezone.now() - timedelta(hours=2))
    settings.HEALTH_OUTBOX_OLDEST_MAX_AGE = 3600
    status, checks, _ = _ready(client)
    assert status == 503
    message = checks["outbox"]["message"]
    assert "oldest undelivered 7200 s ago" in message and message.endswith("(age max 3600 s)")


def test_readyz_fails_when_a_migration_is_not_applied(client, heartbeats):
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="requests_app").order_by("-name").first()
    latest.delete()  # rolled back with the test's transaction
    status, checks, _ = _ready(client)
    assert status == 503
    assert checks["migrations"]["state"] == "fail"
    assert checks["migrations"]["message"] == f"1 unapplied, first requests_app.{latest.name}"
    # A negative answer is not kept: applied again, the next probe is ready.
    recorder.record_applied("requests_app", latest.name)
    assert _ready(client)[0] == 200


def test_the_heartbeat_task_records_beat_only_when_beat_sent_it(settings):
    heartbeat.delay()  # e.g. `celery call requests_app.tasks.heartbeat` by an operator
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"worker"}
    entry = settings.CELERY_BEAT_SCHEDULE["heartbeat"]
    heartbeat.apply_async(kwargs=entry["kwargs"])  # as beat sends it
    assert set(Heartbeat.objects.values_list("name", flat=True)) == {"worker", "beat"}
    assert entry["options"]["expires"] == settings.HEALTH_HEARTBEAT_INTERVAL


def test_readyz_stays_cheap(client, heartbeats, django_assert_max_num_queries):
    """Probed every few seconds: a fixed handful of queries once migrations are known."""
    _ready(client)
    with django_assert_max_num_queries(5):
        assert _ready(client)[0] == 200
