"""Deprovisioning ends everything a person holds or waits for at once (invariant 12)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant, OutboxMessage, Review
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.deprovision import user_deprovision
from requests_app.services.reviews import review_submit
from requests_app.services.thresholds import progress
from requests_app.services.tokens import api_token_create, api_token_mint
from tests.policies import contractor_dave, engineer_requests


@pytest.fixture
def leaver(apply_yaml, base_policy, user):
    """alice, who holds db-admin now, waits for dev-admin, has an API token and approved
    dave's request (which needs two approvals, so it is still pending)."""
    apply_yaml(
        engineer_requests(roles="[db-admin, dev-admin]")
        + "---\n"
        + contractor_dave("thresholds: [{approve: 2, deny: 1}]")
        + """---
kind: role
name: lead
spec:
  allow:
    review_requests: {roles: [db-admin]}
---
kind: user
name: alice
roles: [engineer, lead]
"""
    )
    alice, bob = user("alice"), user("bob")
    live = access_request_create(requester=alice, roles=["db-admin"], reason="INC-1")
    review_submit(request_id=live.id, reviewer=bob, state="APPROVED")
    waiting = access_request_create(requester=alice, roles=["dev-admin"], reason="INC-2")
    daves = access_request_create(requester=user("dave"), roles=["db-admin"], reason="INC-3")
    review_submit(request_id=daves.id, reviewer=alice, state="APPROVED")
    token = api_token_create(user=alice)
    with transaction.atomic():  # a session token, as `accessctl login --sso` gets
        session = api_token_mint(user=alice, via="cli:device").key
    return {
        "alice": alice,
        "live": live,
        "waiting": waiting,
        "daves": daves,
        "token": token,
        "session": session,
    }


def test_everything_ends_at_once_and_the_next_check_says_no(leaver):
    alice = leaver["alice"]
    assert access_check(user=alice, role="db-admin").allowed
    api = Client(HTTP_AUTHORIZATION=f"Token {leaver['token'].key}")
    assert api.get("/api/v1/me/").status_code == 200
    cli = Client(HTTP_AUTHORIZATION=f"Token {leaver['session']}")
    assert cli.get("/api/v1/me/").status_code == 200

    done = user_deprovision(user_id=alice.pk, actor="scim:okta", reason="left the company")

    assert not access_check(user=alice, role="db-admin").allowed
    assert api.get("/api/v1/me/").status_code == 401
    refused = cli.get("/api/v1/me/")
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"
    live = AccessRequest.objects.get(pk=leaver["live"].pk)
    assert live.state == RequestState.REVOKED and live.revoked_by is None
    assert live.revoke_reason == "left the company"
    assert not Grant.objects.filter(request=live, revoked_at=None).exists()
    assert AccessRequest.objects.get(pk=leaver["waiting"].pk).state == RequestState.WITHDRAWN
    assert not Token.objects.filter(user=alice).exists()
    alice.refresh_from_db()
    assert not alice.is_active
    assert done.revoked == [str(live.pk)] and done.withdrawn == [str(leaver["waiting"].pk)]

    # Her approval of dave's request no longer counts; it stays on the record.
    daves = AccessRequest.objects.get(pk=leaver["daves"].pk)
    assert daves.state == RequestState.PENDING
    review = Review.objects.get(request=daves)
    assert review.voided_at is not None
    assert progress(daves.policy, [review])[0]["approvals"] == 0

    event = AuditEvent.objects.get(action="user.deprovisioned")
    assert event.actor_name == "scim:okta" and event.actor_id is None
    assert event.data["revoked"] == [str(live.pk)] and event.data["token_deleted"] is True
    assert event.data["session_tokens_revoked"] == 1
    revoked = AuditEvent.objects.get(action="request.revoked", target_id=str(live.pk))
    assert revoked.actor_name == "scim:okta"
    assert OutboxMessage.objects.filter(event="access.revoked", request_id=live.pk).exists()


def test_a_second_call_finds_nothing_left_and_records_nothing(leaver):
    alice = leaver["alice"]
    user_deprovision(user_id=alice.pk, actor="scim:okta", reason="left")
    before = AuditEvent.objects.count()
    done = user_deprovision(user_id=alice.pk, actor="scim:okta", reason="left")
    assert not (done.revoked or done.withdrawn or done.voided_reviews or done.deactivated)
    assert AuditEvent.objects.count() == before


def test_reviews_keep_counting_when_the_setting_is_off(leaver, settings):
    settings.ACCESSPORTAL_DEPROVISION_VOIDS_REVIEWS = False
    user_deprovision(user_id=leaver["alice"].pk, actor="scim:okta", reason="left")
    assert Review.objects.get(request=leaver["daves"]).voided_at is None


def test_unticking_active_in_the_admin_deprovisions(leaver, root_client):
    alice = leaver["alice"]
    page = root_client.get(f"/admin/auth/user/{alice.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(
        {
            "is_active": "",
            "groups": [],
            "user_permissions": [],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        }
    )
    data = {k: v for k, v in data.items() if k not in ("is_active",)}
    response = root_client.post(f"/admin/auth/user/{alice.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not access_check(user=alice, role="db-admin").allowed
    assert AccessRequest.objects.get(pk=leaver["live"].pk).state == RequestState.REVOKED
    event = AuditEvent.objects.get(action="user.deprovisioned")
    assert event.actor_id is not None and event.actor_name != "system"
    assert AuditEvent.objects.filter(action="account.changed", target_id=str(alice.pk)).exists()


def test_admin_user_page_shows_roles_with_their_sources(leaver, root_client):
    page = root_client.get(f"/admin/auth/user/{leaver['alice'].pk}/change/")
    text = page.content.decode()
    assert "engineer (policy)" in text and "lead (policy)" in text
