"""The periodic anchor, for real: a Celery worker with beat (Redis broker, PostgreSQL) takes
anchors every AUDIT_ANCHOR_INTERVAL, appends them to the anchor file and posts them, signed,
to a local HTTP receiver; `verify_audit --anchors` then checks the file."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.management import call_command

from accessportal.kernel.models import AuditChainHead
from requests_app.services.access_requests import access_request_create
from requests_app.services.audit_anchors import anchor_verify
from tests.worker_support import WEBHOOK_SECRET, Receiver, WorkerProcess, delete_broker_keys

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

ANCHOR_KEY = "live-anchor-key-0123456789abcdef0123456789"


@pytest.fixture
def committed_history(chain_head, base_policy, user):
    """Events the worker can see (committed), with the chain head the flush removed."""
    access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-3")
    return AuditChainHead.objects.get(pk=1)


def test_the_periodic_task_writes_the_file_and_posts_a_signed_webhook(
    committed_history, tmp_path, settings, capsys
):
    anchors = tmp_path / "anchors.jsonl"
    receiver = Receiver()
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    worker = WorkerProcess(
        tmp_path,
        prefix,
        {
            "AUDIT_ANCHOR_INTERVAL": "1",
            "AUDIT_ANCHOR_KEY": ANCHOR_KEY,
            "AUDIT_ANCHOR_FILE": str(anchors),
            "AUDIT_ANCHOR_WEBHOOK_URL": receiver.url,
            "AUDIT_ANCHOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    try:
        worker.wait_until(
            lambda: anchors.exists() and len(anchors.read_text().splitlines()) >= 2
            and len(receiver.accepted()) >= 2,
            "two periodic anchors in the file and at the receiver",
        )  # fmt: skip
    finally:
        worker.stop()
        receiver.stop()
        delete_broker_keys(prefix)

    head = committed_history
    settings.AUDIT_ANCHOR_KEY = ANCHOR_KEY
    lines = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert {(line["seq"], line["hash"]) for line in lines} == {(head.seq, head.hash)}
    posted = receiver.accepted()[0]
    assert posted.verified and posted.event == "audit.anchor"
    assert posted.json["anchor"]["seq"] == head.seq
    assert anchor_verify(posted.json["jws"]).hash == head.hash

    call_command("verify_audit", "--anchors", str(anchors))
    assert "anchors held: 1" in capsys.readouterr().out
