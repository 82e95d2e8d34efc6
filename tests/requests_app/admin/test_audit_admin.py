"""The audit log in admin: for auditors, searchable and filterable, never changed."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accessportal.kernel.models import AuditEvent
from requests_app.services.reviews import review_submit

AUDIT = reverse("admin:requests_app_auditevent_changelist")
VERIFY = reverse("admin:requests_app_auditevent_verify")


@pytest.fixture
def events(make_request, user):
    request = make_request(["db-admin"], reason="INC-77")
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    return request


def listed(response) -> list[str]:
    return [e.action for e in response.context["cl"].result_list]


def test_auditors_and_superusers_see_the_log_reviewers_do_not(login, root_client, events):
    assert login("erin").get(AUDIT).status_code == 200
    assert root_client.get(AUDIT).status_code == 200
    bob = login("bob")
    assert bob.get(AUDIT).status_code == 403
    assert "Audit events" not in bob.get(reverse("admin:index")).content.decode()
    event = AuditEvent.objects.last()
    detail = reverse("admin:requests_app_auditevent_change", args=[event.pk])
    assert bob.get(detail).status_code == 404


def test_audit_log_is_filterable_by_action_and_target(login, events):
    client = login("erin")
    assert set(listed(client.get(f"{AUDIT}?action=review.submitted"))) == {"review.submitted"}
    by_target = listed(client.get(f"{AUDIT}?target_type=access_request"))
    assert set(by_target) == {"request.created", "review.submitted", "request.approved"}


def test_audit_log_is_searchable(login, events):
    client = login("erin")
    by_bob = {"review.submitted", "request.approved", "user.policy_set"}  # actor or target
    assert set(listed(client.get(f"{AUDIT}?q=bob"))) == by_bob
    assert len(listed(client.get(f"{AUDIT}?q={events.pk}"))) == 3


def test_audit_detail_shows_data_and_chain_fields(login, events):
    event = AuditEvent.objects.get(action="request.created")
    page = login("erin").get(reverse("admin:requests_app_auditevent_change", args=[event.pk]))
    text = page.content.decode()
    assert "INC-77" in text and event.hash in text and event.prev_hash in text


def test_verify_button_reports_an_intact_chain(login, events):
    response = login("erin").post(VERIFY)
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == [f"Audit chain verified: {AuditEvent.objects.count()} events, intact."]


def test_verify_button_reports_a_broken_chain(login, events, audit_tampering):
    AuditEvent.objects.filter(action="request.created").update(actor_name="mallory")
    response = login("erin").post(VERIFY)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(said) == 1 and said[0].startswith("Audit chain BROKEN")


def test_verify_button_reports_missing_events(login, events):
    """A row written around the services (no request.created event) is reported, as
    `manage.py verify_audit` reports it, even though the hash chain holds."""
    from requests_app.models import AccessRequest

    ghost = AccessRequest.objects.get(pk=events.pk)
    ghost.pk = None
    ghost.id = uuid.uuid4()
    ghost.save(force_insert=True)
    response = login("erin").post(VERIFY)
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said[0].startswith("Audit chain verified")
    assert said[1] == (
        f"2 audit event(s) missing: access_request {ghost.id}: no request.created event; "
        f"access_request {ghost.id}: no request.approved event"
    )


def test_verify_is_for_auditors_only(login, events):
    assert login("bob").post(VERIFY).status_code == 403
