"""The outbox and notification rules in Django admin: dead letters visible, retry-now
through the service (permission-checked, audited), rules checked like policy files."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accessportal.kernel.choices import OutboxState
from accessportal.kernel.models import AuditEvent
from policies_app.models import NotificationRule
from requests_app.models import NotificationDelivery, OutboxMessage
from requests_app.services.access_requests import access_request_create

CHANGELIST = "admin:requests_app_outboxmessage_changelist"


@pytest.fixture
def messages(requester):
    """Two messages: one sent, one dead letter (its webhook delivery gave up)."""
    access_request_create(requester=requester, roles=["db-admin"])
    access_request_create(requester=requester, roles=["dev-admin"])
    sent, dead = OutboxMessage.objects.order_by("pk")
    sent.state = OutboxState.SENT
    sent.save()
    dead.state, dead.attempts, dead.last_error = OutboxState.DEAD, 8, "webhook: HTTP 500"
    dead.save()
    NotificationDelivery.objects.create(
        message=dead,
        channel="webhook",
        target="https://hooks.example.com/services/T000/B000/SECRET",
        state=OutboxState.DEAD,
        attempts=8,
        last_error="HTTP 500",
        next_attempt_at=dead.created,
        created=dead.created,
    )
    return sent, dead


@pytest.fixture
def staff_viewer(user, reviewer):
    bob = user("bob")
    bob.is_staff = True
    bob.save()
    bob.user_permissions.add(Permission.objects.get(codename="view_outboxmessage"))
    return bob


def test_dead_letters_are_listed_by_state(client, admin, messages):
    sent, dead = messages
    client.force_login(admin)
    response = client.get(reverse(CHANGELIST), {"state__exact": "DEAD"})
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [dead]
    assert "1 (1 dead)" in response.content.decode()


def test_message_page_shows_deliveries_without_webhook_secrets(client, admin, messages):
    _, dead = messages
    client.force_login(admin)
    page = client.get(reverse("admin:requests_app_outboxmessage_change", args=[dead.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "HTTP 500" in text and "https://hooks.example.com/…" in text
    assert "SECRET" not in text


def test_retry_now_requeues_dead_letters_and_is_audited(client, admin, messages):
    _, dead = messages
    client.force_login(admin)
    response = client.post(
        reverse(CHANGELIST), {"action": "retry_now", "_selected_action": [dead.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "1 notification(s) queued to be sent again" in response.content.decode()
    dead.refresh_from_db()
    assert dead.state == OutboxState.PENDING
    delivery = dead.deliveries.get()
    assert delivery.state == OutboxState.PENDING and delivery.attempts == 0
    assert AuditEvent.objects.filter(action="notification.retried").count() == 1


def test_viewers_see_the_outbox_read_only_and_cannot_retry(client, staff_viewer, messages):
    _, dead = messages
    client.force_login(staff_viewer)
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and "retry_now" not in page.content.decode()
    client.post(reverse(CHANGELIST), {"action": "retry_now", "_selected_action": [dead.pk]})
    dead.refresh_from_db()
    assert dead.state == OutboxState.DEAD
    assert client.get(reverse("admin:requests_app_outboxmessage_add")).status_code == 403


def test_rule_admin_refuses_a_bad_spec_with_the_problem(client, admin):
    client.force_login(admin)
    response = client.post(
        reverse("admin:policies_app_notificationrule_add"),
        {"name": "sec", "description": "", "spec_yaml": "channels:\n  - {type: slack}\n"},
    )
    assert response.status_code == 200
    assert "give exactly one of url or url_env" in response.content.decode()
    assert not NotificationRule.objects.exists()
    response = client.post(
        reverse("admin:policies_app_notificationrule_add"),
        {"name": "sec", "description": "", "spec_yaml": "channels: [\n"},
    )
    assert response.status_code == 200 and "not valid YAML" in response.content.decode()


def test_rule_admin_creates_and_edits_through_the_service(client, admin):
    client.force_login(admin)
    add = reverse("admin:policies_app_notificationrule_add")
    spec = "events: [request.created]\nchannels:\n  - {type: email, to: [sec@example.com]}\n"
    response = client.post(add, {"name": "sec", "description": "d", "spec_yaml": spec})
    assert response.status_code == 302
    rule = NotificationRule.objects.get(name="sec")
    assert rule.spec["channels"] == [{"type": "email", "to": ["sec@example.com"]}]
    change = reverse("admin:policies_app_notificationrule_change", args=[rule.pk])
    form = client.get(change)
    assert "sec@example.com" in form.content.decode()
    response = client.post(
        change, {"name": "security", "description": "d", "spec_yaml": spec.replace("sec@", "soc@")}
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "security" and rule.spec["channels"][0]["to"] == ["soc@example.com"]
    assert list(
        AuditEvent.objects.filter(target_type="notification_rule").values_list("action", flat=True)
    ) == ["notification_rule.created", "notification_rule.renamed", "notification_rule.updated"]
    delete = reverse("admin:policies_app_notificationrule_delete", args=[rule.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not NotificationRule.objects.exists()
    assert AuditEvent.objects.filter(action="notification_rule.deleted").exists()
