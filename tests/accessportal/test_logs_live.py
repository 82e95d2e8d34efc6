"""One request followed from the API to a real worker's delivery by its request id: a
Celery worker process (JSON logs, as in production) on a real Redis broker and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.worker_support import REDIS_URL, WorkerProcess, broker, delete_broker_keys

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _json_lines(text: str) -> list[dict]:
    lines = []
    for raw in text.splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # Celery's start-up banner is printed, not logged
    return lines


def test_a_live_worker_logs_the_id_of_the_request_that_queued_the_task(
    requester, reviewer, tmp_path
):
    reviewer.email = "bob@example.com"
    reviewer.save()
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    worker = WorkerProcess(
        tmp_path,
        prefix,
        {
            "LOG_FORMAT": "json",
            "NOTIFY_EMAIL_USERS": "true",
            "EMAIL_BACKEND": "accessportal.logs.mail.LogEmailBackend",
        },
    )
    try:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=requester)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        with broker(REDIS_URL, key_prefix=prefix):
            answer = client.post(
                "/api/v1/requests/",
                {"roles": ["db-admin"], "reason": "INC-9"},
                format="json",
                HTTP_X_REQUEST_ID="follow-me-live-1",
            )
        assert answer.status_code == 201, answer.content

        def delivered() -> list[dict]:
            return [
                line
                for line in _json_lines(worker.output())
                if line.get("logger") == "accessportal.mail"
            ]

        deadline = time.monotonic() + 60
        while not delivered():
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.25)
        (email,) = delivered()
        assert email["request_id"] == "follow-me-live-1"
        assert email["task"] == "requests_app.tasks.dispatch_outbox_message"
        assert email["message"] == "email to bob@example.com: " + email["message"].split(": ", 1)[1]
        # Celery's own lines for that task carry the same ids.
        done = [
            line
            for line in _json_lines(worker.output())
            if line["task_id"] == email["task_id"] and line["logger"] == "celery.app.trace"
        ]
        assert done and all(line["request_id"] == "follow-me-live-1" for line in done)

        # Beat's sweeps (every second here) get ids of their own, one per run.
        def swept() -> list[str]:
            return [
                line["request_id"]
                for line in _json_lines(worker.output())
                if line["logger"] == "celery.app.trace" and line["task"].endswith("_due_requests")
            ]

        while len(swept()) < 2:
            assert time.monotonic() < deadline + 30, worker.output()
            time.sleep(0.25)
        ids = swept()
        assert "follow-me-live-1" not in ids and "-" not in ids and len(set(ids)) == len(ids)
    finally:
        worker.stop()
        delete_broker_keys(prefix)
