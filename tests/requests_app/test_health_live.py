"""Heartbeats for real: a Celery worker with beat (Redis broker, PostgreSQL) runs the
heartbeat beat sends, both rows appear, and /readyz turns ready."""

from __future__ import annotations

import uuid

import pytest

from requests_app.health.checks import reset_migrations_cache
from requests_app.models import Heartbeat
from tests.worker_support import REDIS_URL, WorkerProcess, broker, delete_broker_keys

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_worker_with_beat_records_both_heartbeats_and_readyz_turns_ready(client, tmp_path):
    reset_migrations_cache()
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    with broker(REDIS_URL, key_prefix=prefix):
        before = client.get("/readyz")
        assert before.status_code == 503  # no heartbeat yet
        worker = WorkerProcess(tmp_path, prefix, {"HEALTH_HEARTBEAT_INTERVAL": "1"})
        try:
            worker.wait_until(
                lambda: set(Heartbeat.objects.values_list("name", flat=True)) == {"worker", "beat"},
                "the worker to record the worker and beat heartbeats",
            )
            after = client.get("/readyz")
        finally:
            worker.stop()
            delete_broker_keys(prefix)
    assert after.status_code == 200, after.content
    checks = {c["name"]: c for c in after.json()["checks"]}
    assert checks["broker"]["state"] == "ok"
    assert checks["heartbeats"]["state"] == "ok"
    assert "worker" in checks["heartbeats"]["message"] and "beat" in checks["heartbeats"]["message"]
