"""A review of a request whose policy snapshot requires a reason needs one, on every path:
the service, the API, the portal (inbox and request page), the admin desk and its bulk
actions. Each refusal is a visible 4xx and changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.policies import ENGINEER_ROLES, REASON_REQUIRED, engineer_requests

ENGINEER_NEEDS_REASON = engineer_requests(REASON_REQUIRED, roles=ENGINEER_ROLES)


@pytest.fixture
def needs_reason(base_policy, apply_yaml, requester):
    """alice's pending request whose snapshot requires a reason (of her and her reviewers)."""
    apply_yaml(ENGINEER_NEEDS_REASON)
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-7")
    assert request.policy["reason_required"] is True
    return request


def _unchanged(request) -> None:
    request.refresh_from_db()
    assert request.state == RequestState.PENDING
    assert not Review.objects.filter(request=request).exists()
    assert not AuditEvent.objects.filter(action="review.submitted").exists()


def _client(person) -> Client:
    client = Client()
    client.force_login(person)
    return client


@pytest.mark.parametrize("state", ["APPROVED", "DENIED"])
def test_service_refuses_a_review_without_a_reason(needs_reason, reviewer, state):
    with pytest.raises(ValidationFailed) as err:
        review_submit(request_id=needs_reason.id, reviewer=reviewer, state=state, reason="  ")
    assert err.value.field == "reason"
    assert "a reason is required to review this request (its policy" in str(err.value)
    assert "Ticket number" not in str(err.value)  # the requester's prompt, not advice to reviewers
    _unchanged(needs_reason)


def test_service_accepts_the_review_with_a_reason(needs_reason, reviewer):
    done = review_submit(
        request_id=needs_reason.id, reviewer=reviewer, state="APPROVED", reason="INC-7 seen"
    )
    assert done.state == RequestState.APPROVED


def test_a_request_without_the_rule_is_reviewed_without_a_reason(base_policy, requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    done = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="")
    assert done.state == RequestState.APPROVED


def test_api_answers_422_reason_required_naming_the_reason_field(needs_reason, reviewer):
    token, _ = Token.objects.get_or_create(user=reviewer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = f"/api/v1/requests/{needs_reason.id}/reviews/"
    response = client.post(url, {"state": "APPROVED"}, format="json")
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["field"] == "reason" and body["code"] == "reason_required"
    assert body["detail"].startswith("a reason is required to review this request")
    _unchanged(needs_reason)


def test_portal_inbox_marks_the_reason_required_and_refuses_an_empty_one(needs_reason, reviewer):
    client = _client(reviewer)
    inbox = reverse("portal:inbox")
    page = client.get(inbox).content.decode()
    assert '<span class="tag tag-required">required</span>' in page
    response = client.post(
        reverse("portal:request-review", args=[needs_reason.id]),
        {"state": "APPROVED", "reason": "", "next": inbox},
    )
    assert response.status_code == 422
    assert "A reason is required to review this request" in response.content.decode()
    _unchanged(needs_reason)


def test_admin_desk_page_refuses_an_empty_reason(needs_reason, reviewer):
    reviewer.is_staff = True
    reviewer.save(update_fields=["is_staff"])
    url = reverse("admin:requests_app_accessrequest_review", args=[needs_reason.pk])
    response = _client(reviewer).post(url, {"decision": "APPROVED", "reason": ""})
    assert response.status_code == 400
    _unchanged(needs_reason)


def test_admin_bulk_review_asks_for_the_reason_before_reviewing(needs_reason, reviewer):
    """The desk asks for the reason the policy requires before it reviews anything, and
    keeps the selection (the bulk confirmation page, 400)."""
    reviewer.is_staff = True
    reviewer.save(update_fields=["is_staff"])
    response = _client(reviewer).post(
        reverse("admin:requests_app_pendingrequest_changelist"),
        {
            "action": "approve_selected",
            "post": "yes",
            "reason": "",
            ACTION_CHECKBOX_NAME: [str(needs_reason.pk)],
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "A reason is required" in page
    assert f'value="{needs_reason.pk}"' in page  # the selection is kept
    _unchanged(needs_reason)
