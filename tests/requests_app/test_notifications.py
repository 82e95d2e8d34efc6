"""Notifications from the outbox: who is told, over which channel, signed webhooks, retries
with backoff, dead letters, retry-now, no duplicates, and a broker outage losing nothing.

Webhooks go to a real HTTP server on 127.0.0.1 (tests/worker_support.Receiver), which
checks signatures with the snippet published in docs/notifications.md.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accessportal.kernel.choices import OutboxState
from accessportal.kernel.errors import NotAllowed
from accessportal.kernel.models import AuditEvent
from requests_app import tasks
from requests_app.models import AccessRequest, NotificationDelivery, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.notifications import (
    delivery_claim,
    outbox_dispatch,
    outbox_messages_due,
    outbox_retry,
    outbox_route,
    retry_delay,
)
from requests_app.services.reviews import review_submit
from tests.worker_support import WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, Receiver, broker

T0 = "2026-03-02 09:00Z"

EMAILS = """
kind: user
name: alice
email: alice@example.com
roles: [engineer]
traits: {team: [pay]}
---
kind: user
name: bob
email: bob@example.com
roles: [reviewer]
---
kind: user
name: carol
email: carol@example.com
roles: [reviewer]
"""


def webhook_rule(url: str, *, condition: str = "", events: str = "") -> str:
    lines = ["kind: notification_rule", "name: siem", "spec:"]
    if events:
        lines.append(f"  events: {events}")
    if condition:
        lines.append(f"  condition: '{condition}'")
    lines += [
        "  channels:",
        f"    - {{type: webhook, url: '{url}', secret_env: {WEBHOOK_SECRET_ENV}}}",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def people(apply_yaml, base_policy, user):
    """The personas with email addresses."""
    apply_yaml(EMAILS)
    return user


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
    server = Receiver()
    yield server
    server.stop()


def dispatch_all() -> int:
    return sum(outbox_dispatch(message_id=pk) for pk in outbox_messages_due())


def message(event: str) -> OutboxMessage:
    return OutboxMessage.objects.get(event=event)


def test_new_request_emails_each_eligible_reviewer_with_text_and_html(people):
    request = access_request_create(
        requester=people("alice"), roles=["db-admin"], reason="INC-7 <urgent>"
    )
    assert dispatch_all() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["bob@example.com", "carol@example.com"]
    email = mail.outbox[0]
    assert email.subject == "[Access Portal] alice requests db-admin"
    assert "INC-7 <urgent>" in email.body  # plain text is not HTML-escaped
    assert str(request.id) in email.body
    html, mimetype = email.alternatives[0]
    assert mimetype == "text/html" and "INC-7 &lt;urgent&gt;" in html
    assert message("request.created").state == OutboxState.SENT


def test_decision_is_told_to_the_requester_only(people):
    request = access_request_create(requester=people("alice"), roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=people("bob"), state="DENIED", reason="no ticket")
    mail.outbox.clear()
    outbox_dispatch(message_id=message("request.denied").pk)
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    assert "no ticket" in mail.outbox[0].body
    assert "was denied" in mail.outbox[0].subject


def test_message_nobody_can_receive_is_closed_as_sent(requester, reviewer):
    # The base personas have no email address and no rule matches.
    access_request_create(requester=requester, roles=["db-admin"])
    assert dispatch_all() == 0
    created = message("request.created")
    assert created.state == OutboxState.SENT and created.routed_at is not None
    assert not created.deliveries.exists()
    assert outbox_messages_due() == []


def test_signed_webhook_verifies_with_the_documented_snippet(people, receiver, apply_yaml):
    apply_yaml(webhook_rule(receiver.url))
    request = access_request_create(requester=people("alice"), roles=["db-admin"], reason="INC-7")
    outbox_dispatch(message_id=message("request.created").pk)
    [hook] = receiver.received
    assert hook.verified
    assert hook.event == "request.created"
    body = hook.json
    assert body["request_id"] == str(request.id) and body["data"]["reason"] == "INC-7"
    delivery = NotificationDelivery.objects.get(channel="webhook")
    assert hook.headers["X-AccessPortal-Delivery"] == str(delivery.id) == body["delivery_id"]
    assert delivery.rule == "siem" and delivery.state == OutboxState.SENT


def test_tampered_or_stale_webhook_does_not_verify(people, receiver, apply_yaml):
    from tests.worker_support import documented_verifier

    verify = documented_verifier()
    apply_yaml(webhook_rule(receiver.url))
    access_request_create(requester=people("alice"), roles=["db-admin"])
    outbox_dispatch(message_id=message("request.created").pk)
    [hook] = receiver.received
    key = WEBHOOK_SECRET.encode()
    assert verify(key, hook.headers, hook.body)
    assert not verify(key, hook.headers, hook.body.replace(b"alice", b"mallo"))
    assert not verify(b"another secret", hook.headers, hook.body)
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        assert not verify(key, hook.headers, hook.body)


def test_rule_condition_selects_requests(people, receiver, apply_yaml):
    apply_yaml(webhook_rule(receiver.url, condition='contains(request.roles, "db-admin")'))
    access_request_create(requester=people("alice"), roles=["dev-admin"])
    access_request_create(requester=people("alice"), roles=["db-admin"])
    dispatch_all()
    assert [h.json["data"]["roles"] for h in receiver.received] == [["db-admin"]]


def test_rule_events_select_events(people, receiver, apply_yaml):
    apply_yaml(webhook_rule(receiver.url, events='["access.*", request.approved]'))
    request = access_request_create(requester=people("alice"), roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=people("bob"), state="APPROVED")
    dispatch_all()
    assert [h.event for h in receiver.received] == ["request.approved"]


def test_slack_and_extra_email_channels(people, receiver, apply_yaml, monkeypatch):
    monkeypatch.setenv("SLACK_TEST_URL", receiver.url)
    apply_yaml(
        """
        kind: notification_rule
        name: team
        spec:
          events: [request.created]
          channels:
            - {type: slack, url_env: SLACK_TEST_URL}
            - {type: email, to: [security@example.com, carol]}
        """
    )
    access_request_create(requester=people("alice"), roles=["db-admin"], reason="deploy")
    assert dispatch_all() == 4  # bob and carol (reviewers; carol once), security, Slack
    [slack] = receiver.received
    assert slack.json["text"].startswith("*alice requests db-admin*")
    assert "Reason: deploy" in slack.json["text"]
    assert sorted(m.to[0] for m in mail.outbox) == [
        "bob@example.com",
        "carol@example.com",
        "security@example.com",
    ]


def test_dispatching_twice_sends_once(people, receiver, apply_yaml):
    apply_yaml(webhook_rule(receiver.url))
    access_request_create(requester=people("alice"), roles=["db-admin"])
    pk = message("request.created").pk
    assert outbox_dispatch(message_id=pk) == 3
    assert outbox_dispatch(message_id=pk) == 0
    tasks.dispatch_outbox_message.delay(pk).get()
    tasks.dispatch_due_notifications.delay().get()
    assert len(receiver.received) == 1 and len(mail.outbox) == 2


def test_a_claimed_delivery_is_not_sent_by_anyone_else_until_its_lease_runs_out(
    people, receiver, apply_yaml, settings
):
    """A worker killed mid-send: its claim blocks others, then lapses and the sweep sends."""
    settings.NOTIFY_CLAIM_LEASE = 300
    settings.NOTIFY_EMAIL_USERS = False
    apply_yaml(webhook_rule(receiver.url))
    with time_machine.travel(T0, tick=False) as clock:
        access_request_create(requester=people("alice"), roles=["db-admin"])
        pk = message("request.created").pk
        assert outbox_route(message_id=pk)
        delivery = NotificationDelivery.objects.get()
        assert delivery_claim(delivery_id=delivery.pk) is not None  # ...and the worker dies
        assert delivery_claim(delivery_id=delivery.pk) is None
        assert tasks.dispatch_due_notifications.delay().get() == 0
        clock.shift(timedelta(seconds=301))
        assert tasks.dispatch_due_notifications.delay().get() == 1
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.state == OutboxState.SENT and delivery.attempts == 2


def test_failures_retry_with_exponential_backoff_then_dead_letter(
    people, receiver, apply_yaml, settings, caplog
):
    settings.NOTIFY_MAX_ATTEMPTS = 4
    settings.NOTIFY_RETRY_BACKOFF = 30
    settings.NOTIFY_EMAIL_USERS = False
    receiver.statuses.extend([500, 503, 502, 500, 500])
    apply_yaml(webhook_rule(receiver.url))
    with time_machine.travel(T0, tick=False) as clock:
        access_request_create(requester=people("alice"), roles=["db-admin"])
        pk = message("request.created").pk
        waits = []
        for _ in range(4):
            assert outbox_dispatch(message_id=pk) == 0
            assert outbox_dispatch(message_id=pk) == 0  # not due again yet: no extra attempt
            delivery = NotificationDelivery.objects.get()
            if delivery.state == OutboxState.DEAD:
                break
            waits.append(delivery.next_attempt_at - timezone.now())
            clock.shift(delivery.next_attempt_at - timezone.now())
        clock.shift(timedelta(days=1))
        assert tasks.dispatch_due_notifications.delay().get() == 0
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert len(receiver.received) == 4  # the dead letter is not sent again by itself
    delivery.refresh_from_db()
    assert delivery.state == OutboxState.DEAD and delivery.attempts == 4
    assert delivery.last_error.startswith("HTTP 500")
    dead = OutboxMessage.objects.get(pk=pk)
    assert dead.state == OutboxState.DEAD and "HTTP 500" in dead.last_error
    assert "dead letter after 4 attempt(s)" in caplog.text


def test_backoff_is_capped(settings):
    settings.NOTIFY_RETRY_BACKOFF, settings.NOTIFY_RETRY_BACKOFF_MAX = 30, 3600
    assert [retry_delay(n).total_seconds() for n in (1, 2, 7, 8, 20)] == [30, 60, 1920, 3600, 3600]


def test_client_errors_go_straight_to_the_dead_letters(people, receiver, apply_yaml, settings):
    settings.NOTIFY_EMAIL_USERS = False
    receiver.statuses.append(404)
    apply_yaml(webhook_rule(receiver.url))
    access_request_create(requester=people("alice"), roles=["db-admin"])
    outbox_dispatch(message_id=message("request.created").pk)
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == OutboxState.DEAD and delivery.attempts == 1


def test_missing_signing_secret_is_a_dead_letter_that_says_why(people, apply_yaml, monkeypatch):
    monkeypatch.delenv(WEBHOOK_SECRET_ENV, raising=False)
    apply_yaml(webhook_rule("http://127.0.0.1:9/hook"))
    access_request_create(requester=people("alice"), roles=["db-admin"])
    outbox_dispatch(message_id=message("request.created").pk)
    delivery = NotificationDelivery.objects.get(channel="webhook")
    assert delivery.state == OutboxState.DEAD
    assert f"{WEBHOOK_SECRET_ENV} (the webhook signing secret) is not set" in delivery.last_error


def test_a_plain_http_url_from_the_environment_is_a_dead_letter_that_says_why(
    people, apply_yaml, monkeypatch, settings
):
    """Only loopback may be plain http: the payload (reasons included) crosses the network."""
    settings.NOTIFY_EMAIL_USERS = False
    monkeypatch.setenv("SLACK_TEST_URL", "http://hooks.example.com/services/x")
    apply_yaml(
        """
        kind: notification_rule
        name: team
        spec:
          events: [request.created]
          channels: [{type: slack, url_env: SLACK_TEST_URL}]
        """
    )
    access_request_create(requester=people("alice"), roles=["db-admin"])
    outbox_dispatch(message_id=message("request.created").pk)
    delivery = NotificationDelivery.objects.get(channel="slack")
    assert delivery.state == OutboxState.DEAD and delivery.attempts == 1
    assert delivery.last_error == (
        "the webhook URL in SLACK_TEST_URL must use https (plain http only to a loopback "
        "address such as 127.0.0.1)"
    )


def test_unreachable_webhook_is_retried(people, apply_yaml, monkeypatch, settings):
    monkeypatch.setenv(WEBHOOK_SECRET_ENV, WEBHOOK_SECRET)
    settings.NOTIFY_EMAIL_USERS = False
    apply_yaml(webhook_rule("http://127.0.0.1:9/hook"))  # discard port: nothing listens
    access_request_create(requester=people("alice"), roles=["db-admin"])
    outbox_dispatch(message_id=message("request.created").pk)
    delivery = NotificationDelivery.objects.get()
    assert delivery.state == OutboxState.PENDING and delivery.attempts == 1
    assert "could not reach the webhook" in delivery.last_error


def test_retry_now_sends_dead_letters_again_and_is_audited(
    people, receiver, apply_yaml, settings, admin
):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    settings.NOTIFY_EMAIL_USERS = False
    receiver.statuses.append(500)
    apply_yaml(webhook_rule(receiver.url))
    access_request_create(requester=people("alice"), roles=["db-admin"])
    pk = message("request.created").pk
    outbox_dispatch(message_id=pk)
    assert OutboxMessage.objects.get(pk=pk).state == OutboxState.DEAD
    with pytest.raises(NotAllowed):
        outbox_retry(message_ids=[pk], actor=people("bob"))
    assert outbox_retry(message_ids=[pk], actor=admin) == 1
    assert OutboxMessage.objects.get(pk=pk).state == OutboxState.PENDING
    assert outbox_dispatch(message_id=pk) == 1
    assert OutboxMessage.objects.get(pk=pk).state == OutboxState.SENT
    assert [r.status for r in receiver.received] == [500, 200]
    assert outbox_retry(message_ids=[pk], actor=admin) == 0  # sent: nothing to retry
    assert AuditEvent.objects.filter(action="notification.retried", actor_name="root").count() == 1


def test_broker_down_request_is_stored_and_the_outbox_keeps_its_message(
    people, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.WARNING, logger="requests_app.services.jobs")
    with broker("redis://127.0.0.1:9/0"), django_capture_on_commit_callbacks(execute=True):
        request = access_request_create(requester=people("alice"), roles=["db-admin"])
    assert AccessRequest.objects.filter(pk=request.pk).exists()
    kept = message("request.created")
    assert kept.state == OutboxState.PENDING and kept.routed_at is None
    assert "could not queue dispatch_outbox_message" in caplog.text
    # The broker is back (tasks run in-process again): the sweep delivers it.
    assert tasks.dispatch_due_notifications.delay().get() == 1
    assert message("request.created").state == OutboxState.SENT
    assert len(mail.outbox) == 2
