"""What /metrics says after real traffic: counters and histograms recorded by the services
(after commit) and the state gauges read from the database, cheaply and cached."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command

from accessportal.kernel.models import AuditEvent
from requests_app.services.access_requests import access_request_create
from requests_app.services.heartbeats import BEAT, WORKER, heartbeat_record
from tests.metrics.support import samples, value

pytestmark = pytest.mark.django_db(transaction=True)

INF = float("inf")


def _create(api_as, **body) -> str:
    answer = api_as("alice").post(
        "/api/v1/requests/", {"roles": ["db-admin"], "reason": "INC-7", **body}, format="json"
    )
    assert answer.status_code == 201, answer.content
    return answer.json()["id"]


def _approve(api_as, request_id: str) -> None:
    answer = api_as("bob").post(
        f"/api/v1/requests/{request_id}/reviews/",
        {"state": "APPROVED", "reason": "looks right"},
        format="json",
    )
    assert answer.status_code == 201, answer.content


def _delta(before: str, after: str, metric: str, /, **labels) -> float:
    return value(after, metric, **labels) - value(before, metric, **labels)


def test_create_and_approve_move_the_counters_histograms_and_gauges(
    api_as, scrape, requester, reviewer, second_reviewer
):
    reviewer.email, second_reviewer.email = "bob@example.com", "carol@example.com"
    reviewer.save(), second_reviewer.save()
    before = scrape()
    request_id = _create(api_as)
    pending = scrape()
    assert _delta(before, pending, "accessportal_requests_total", state="PENDING", kind="role") == 1
    assert value(pending, "accessportal_requests_pending", kind="role") == 1
    assert value(pending, "accessportal_requests_pending", kind="resource") == 0

    _approve(api_as, request_id)
    after = scrape()
    assert _delta(pending, after, "accessportal_requests_total", state="APPROVED", kind="role") == 1
    assert (
        _delta(pending, after, "accessportal_request_decision_seconds_count", outcome="approved")
        == 1
    )
    assert (
        _delta(
            pending,
            after,
            "accessportal_reviews_total",
            reviewer_role="reviewer",
            outcome="approved",
        )
        == 1
    )
    assert value(after, "accessportal_requests_pending", kind="role") == 0
    assert value(after, "accessportal_grants_open") == 1
    assert value(after, "accessportal_grants_ending_soon") == 0  # 8 hours of access
    assert value(after, "accessportal_audit_chain_length") == AuditEvent.objects.count()
    # The reviewers' emails went out (tasks run in-process here): sent, with a latency.
    assert (
        _delta(
            before,
            after,
            "accessportal_notification_deliveries_total",
            channel="email",
            outcome="sent",
        )
        >= 2
    )
    assert (
        _delta(before, after, "accessportal_notification_delivery_seconds_count", channel="email")
        >= 2
    )
    # django-prometheus: the API's answers by status, and the queries they ran.
    created = [
        (name, dict(labels))
        for (name, labels), v in samples(after).items()
        if name == "django_http_responses_total_by_status_view_method_total"
        and dict(labels).get("status") == "201"
        and v > value(before, name, **dict(labels))
    ]
    assert {labels["method"] for _, labels in created} == {"POST"}
    assert _delta(before, after, "django_db_execute_total", alias="default", vendor=_vendor()) > 0


def _vendor() -> str:
    from django.db import connection

    return connection.vendor


def test_a_rolled_back_change_is_not_counted(scrape, requester, monkeypatch):
    # A real create whose transaction fails after the counter was observed: the request,
    # its audit event and the count all go.
    from requests_app.models import AccessRequest
    from requests_app.services import access_requests

    write = access_requests._write

    def write_then_fail(request, policies):
        write(request, policies)  # everything, the count's observation included
        raise RuntimeError("a later step failed")

    monkeypatch.setattr(access_requests, "_write", write_then_fail)
    before = scrape()
    with pytest.raises(RuntimeError):
        access_request_create(requester=requester, roles=["db-admin"], reason="INC-9")
    assert not AccessRequest.objects.exists()  # the transaction did roll back
    assert (
        _delta(before, scrape(), "accessportal_requests_total", state="PENDING", kind="role") == 0
    )


def test_short_access_is_ending_soon_and_the_sweep_lag_grows_when_no_worker_runs(
    requester, reviewer, scrape, api_as
):
    with time_machine.travel("2026-06-01 09:00Z", tick=False) as clock:
        short = _create(api_as, max_duration="30m")
        _approve(api_as, short)
        late = _create(api_as, request_ttl="1h")
        text = scrape()
        assert value(text, "accessportal_grants_ending_soon") == 1
        assert value(text, "accessportal_sweep_lag_seconds", sweep="expire_requests") == 0
        clock.shift(timedelta(hours=1, minutes=2))  # no worker: nothing expired or ended
        text = scrape()
        assert value(text, "accessportal_requests_past_ttl") == 1
        assert value(text, "accessportal_sweep_lag_seconds", sweep="expire_requests") == 120
        assert value(text, "accessportal_sweep_lag_seconds", sweep="end_grants") == 32 * 60
        assert value(text, "accessportal_grants_open") == 0
    assert late


def test_heartbeat_ages_and_never_seen(scrape):
    text = scrape()
    assert value(text, "accessportal_heartbeat_age_seconds", name="worker") == INF
    with time_machine.travel("2026-06-01 09:00Z", tick=False) as clock:
        heartbeat_record(names=[WORKER, BEAT])
        clock.shift(timedelta(seconds=45))
        text = scrape()
    assert value(text, "accessportal_heartbeat_age_seconds", name="worker") == 45
    assert value(text, "accessportal_heartbeat_age_seconds", name="beat") == 45


def test_audit_verification_result_whole_then_broken(scrape, requester, audit_tampering):
    assert value(scrape(), "accessportal_audit_verification_age_seconds") == INF
    assert "accessportal_audit_verification_ok" not in scrape()  # never verified
    access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    call_command("verify_audit", stdout=io.StringIO())
    text = scrape()
    assert value(text, "accessportal_audit_verification_ok") == 1
    assert value(text, "accessportal_audit_verification_age_seconds") < INF
    AuditEvent.objects.filter(seq=1).update(data={"reason": "rewritten"})
    with pytest.raises(Exception, match="BROKEN"):
        call_command("verify_audit", stdout=io.StringIO())
    assert value(scrape(), "accessportal_audit_verification_ok") == 0


def test_state_gauges_are_read_once_per_cache_interval(
    scrape, settings, requester, django_assert_max_num_queries, django_assert_num_queries
):
    settings.METRICS_DB_CACHE = 15
    cache.delete("accessportal:metrics:db:1")
    # A fixed number, whatever the history (one each the break-glass and unused-grants gauges').
    with django_assert_max_num_queries(18):
        assert value(scrape(), "accessportal_requests_pending", kind="role") == 0
    access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    with django_assert_num_queries(0):  # another scrape within the interval: the cache
        assert value(scrape(), "accessportal_requests_pending", kind="role") == 0
    cache.delete("accessportal:metrics:db:1")  # the interval ran out
    assert value(scrape(), "accessportal_requests_pending", kind="role") == 1


def test_counts_stop_at_the_bound(scrape, settings, requester):
    settings.METRICS_COUNT_LIMIT = 2
    for n in range(4):
        access_request_create(requester=requester, roles=["db-admin"], reason=f"INC-{n}")
    assert value(scrape(), "accessportal_requests_pending", kind="role") == 3  # "more than 2"


def test_a_database_that_fails_leaves_the_rest_of_metrics_served(scrape, monkeypatch):
    from accessportal.metrics import queries

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(queries, "snapshot", broken)
    text = scrape()
    assert value(text, "accessportal_metrics_db_ok") == 0
    assert "accessportal_grants_open" not in text
    assert "django_http_requests_total_by_method_total" in text


def test_a_cache_that_fails_is_read_around(scrape, settings, requester):
    settings.METRICS_DB_CACHE = 15
    access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    settings.CACHES = {  # nothing listens on port 9 (discard): every cache call fails
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    text = scrape()
    assert value(text, "accessportal_metrics_cache_ok") == 0
    assert value(text, "accessportal_metrics_db_ok") == 1  # the database is not blamed
    assert value(text, "accessportal_requests_pending", kind="role") == 1  # read directly


def test_the_cache_answering_is_reported(scrape, settings):
    settings.METRICS_DB_CACHE = 15
    cache.delete("accessportal:metrics:db:1")
    assert value(scrape(), "accessportal_metrics_cache_ok") == 1


def test_expiry_by_the_sweep_and_revocation_are_counted(scrape, requester, reviewer):
    from requests_app.services.grants import access_request_revoke
    from requests_app.services.resolution import access_requests_expire_due
    from requests_app.services.reviews import review_submit

    before = scrape()
    with time_machine.travel("2026-06-01 09:00Z", tick=False) as clock:
        access_request_create(
            requester=requester, roles=["db-admin"], reason="INC-1", request_ttl="1h"
        )
        approved = access_request_create(
            requester=requester, resources=["node/db-prod-1"], reason="INC-2"
        )
        review_submit(request_id=approved.id, reviewer=reviewer, state="APPROVED")
        access_request_revoke(request_id=approved.id, actor=requester, reason="done")
        clock.shift(timedelta(hours=2))
        assert access_requests_expire_due() == 1  # the bulk path the sweep takes
        after = scrape()
    assert _delta(before, after, "accessportal_requests_total", state="EXPIRED", kind="role") == 1
    assert (
        _delta(before, after, "accessportal_requests_total", state="REVOKED", kind="resource") == 1
    )
    assert value(after, "accessportal_requests_past_ttl") == 0
    assert value(after, "accessportal_sweep_lag_seconds", sweep="expire_requests") == 0


def test_a_webhook_that_keeps_failing_becomes_a_dead_letter(
    scrape, requester, apply_yaml, monkeypatch, settings
):
    from tests.worker_support import webhook_receiver

    settings.NOTIFY_MAX_ATTEMPTS = 1
    before = scrape()
    with webhook_receiver(apply_yaml, monkeypatch) as receiver:
        receiver.statuses.extend([500] * 5)
        access_request_create(requester=requester, roles=["db-admin"], reason="INC-4")
    after = scrape()
    assert value(after, "accessportal_outbox_dead_letters", channel="webhook") == 1
    assert value(after, "accessportal_outbox_dead_letters", channel="email") == 0
    dead = _delta(
        before,
        after,
        "accessportal_notification_deliveries_total",
        channel="webhook",
        outcome="dead",
    )
    assert dead == 1


def test_a_failing_provisioning_target_is_counted_and_shown_failing(
    scrape, requester, reviewer, apply_yaml, groups
):
    from policies_app.models import ProvisionTarget
    from tests.requests_app.provisioning.conftest import db_admin_provisioning

    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml()))
    # The target's readable label may hold a URL with a token (a webhook's): never a label.
    target = ProvisionTarget.objects.get(provisioner="files")
    ProvisionTarget.objects.filter(pk=target.pk).update(
        label="webhook https://hooks.example.com/t/s3cr3t-token?key=s3cr3t-key"
    )
    labels = {"target": f"files:{target.key[:12]}", "provisioner": "files"}
    before = scrape()
    assert value(before, "accessportal_provisioning_failing", **labels) == 0  # listed, at 0
    dbas.mode("fail")
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-5")
    from requests_app.services.reviews import review_submit

    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    after = scrape()
    assert value(after, "accessportal_provisioning_failing", **labels) == 1
    assert (
        _delta(before, after, "accessportal_provisioning_calls_total", outcome="failed", **labels)
        == 1
    )
    assert (
        _delta(before, after, "accessportal_provisioning_calls_total", outcome="ok", **labels) == 0
    )
    assert "s3cr3t" not in after and "hooks.example.com" not in after
