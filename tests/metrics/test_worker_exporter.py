"""A real Celery worker (prefork pool, Redis broker, PostgreSQL) with METRICS_WORKER_BIND
serves its own /metrics from its main process: the deliveries its pool's child processes
made are there (PROMETHEUS_MULTIPROC_DIR), the database gauges are not."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid

import pytest

from tests.metrics.support import value
from tests.worker_support import (
    REDIS_URL,
    WorkerProcess,
    broker,
    delete_broker_keys,
    hooks,
    webhook_receiver,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TOKEN = "worker-metrics-token-3f9b2"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _scrape(url: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_a_prefork_worker_exports_its_childrens_deliveries(
    api_as_alice, apply_yaml, monkeypatch, tmp_path
):
    port = _free_port()
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    folder = tmp_path / "worker-prometheus"
    with webhook_receiver(apply_yaml, monkeypatch) as receiver:
        worker = WorkerProcess(
            tmp_path,
            prefix,
            {
                "METRICS_WORKER_BIND": f"127.0.0.1:{port}",
                "METRICS_TOKEN": TOKEN,
                "PROMETHEUS_MULTIPROC_DIR": str(folder),
            },
            pool="prefork",
        )
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            worker.wait_until(lambda: _listening(port), "the metrics exporter")
            with broker(REDIS_URL, key_prefix=prefix):
                answer = api_as_alice.post(
                    "/api/v1/requests/", {"roles": ["db-admin"], "reason": "INC-3"}, format="json"
                )
            assert answer.status_code == 201, answer.content
            worker.wait_until(lambda: hooks(receiver, "request.created"), "the webhook")

            def exported() -> bool:
                text = _scrape(url)[1]
                return value(
                    text, "accessportal_notification_deliveries_total",
                    channel="webhook", outcome="sent",
                ) >= 1  # fmt: skip

            worker.wait_until(exported, "the delivery in the worker's metrics")
            status, text = _scrape(url)
            assert status == 200
            assert (
                value(text, "accessportal_notification_delivery_seconds_count", channel="webhook")
                >= 1
            )
            assert "accessportal_grants_open" not in text  # the web reports the database's state
            assert "django_db_execute_total" in text  # the children's queries, too
            # Written by the pool's children (prefork), read by the main process.
            assert list(folder.glob("counter_*.db"))
            assert _scrape(url.replace("/metrics", "/other"))[0] == 404
        finally:
            worker.stop()
            delete_broker_keys(prefix)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def api_as_alice(api_as, requester, reviewer):
    return api_as("alice")
