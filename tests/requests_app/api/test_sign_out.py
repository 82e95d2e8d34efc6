"""`DELETE auth/token/current/` (`accessctl logout`): the token ends itself; the personal
token, shared by every machine that signed in with the password, only when asked."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.services.tokens import api_token_mint
from tests.requests_app.api.conftest import url

SIGN_OUT = url("auth/token/current/")


def bearer(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def session_keys(api_policy, requester):
    """Two session tokens of alice's, as two `accessctl login --sso` on two laptops."""
    return [api_token_mint(user=requester, via="device").key for _ in range(2)]


def test_a_session_token_ends_itself_alone(session_keys):
    this, other = session_keys
    revoked_before = AuditEvent.objects.filter(action="api_token.revoked").count()
    assert bearer(this).delete(SIGN_OUT).status_code == 204
    again = bearer(this).get(url("me/"))
    assert again.status_code == 401 and again.json()["code"] == "token_revoked"
    assert bearer(other).get(url("me/")).status_code == 200
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == revoked_before + 1


def test_the_personal_token_is_kept_unless_asked_to_end_everywhere(api, requester):
    key = Token.objects.get_or_create(user=requester)[0].key
    refused = bearer(key).delete(SIGN_OUT)
    assert refused.status_code == 409
    assert refused.json()["code"] == "shared_token"
    assert "everywhere" in refused.json()["detail"]
    assert bearer(key).get(url("me/")).status_code == 200
    assert bearer(key).delete(SIGN_OUT + "?everywhere=true").status_code == 204
    assert not Token.objects.filter(user=requester).exists()
    assert bearer(key).get(url("me/")).status_code == 401


def test_everywhere_takes_true_or_false_only(api, requester):
    key = Token.objects.get_or_create(user=requester)[0].key
    answer = bearer(key).delete(SIGN_OUT + "?everywhere=yes")
    assert answer.status_code == 400
    assert "everywhere" in answer.json()["errors"]
    assert Token.objects.filter(user=requester).exists()


def test_a_portal_session_cannot_sign_the_cli_out(api_policy, requester, session_keys):
    browser = APIClient(enforce_csrf_checks=False)
    browser.force_login(requester)
    assert browser.delete(SIGN_OUT).status_code == 401
    assert all(bearer(key).get(url("me/")).status_code == 200 for key in session_keys)


def test_without_a_token_it_is_401(api_policy):
    assert APIClient().delete(SIGN_OUT).status_code == 401
