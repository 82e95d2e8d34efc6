"""Session authentication works for the API, and writes need the CSRF token."""

from __future__ import annotations

from rest_framework.test import APIClient

from requests_app.models import AccessRequest
from tests.requests_app.api.conftest import url

CSRF = "k" * 32  # a well-formed CSRF secret, as the csrftoken cookie would hold


def session_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_session_reads_without_csrf(api_policy, requester):
    response = session_client(requester).get(url("me/"))
    assert response.status_code == 200 and response.json()["user"] == "alice"


def test_session_post_without_csrf_token_is_403(api_policy, requester):
    response = session_client(requester).post(
        url("requests/"), {"roles": ["db-admin"]}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not AccessRequest.objects.exists()


def test_session_post_with_a_wrong_csrf_token_is_403(api_policy, requester):
    client = session_client(requester)
    client.cookies["csrftoken"] = CSRF
    response = client.post(
        url("requests/"), {"roles": ["db-admin"]}, format="json", HTTP_X_CSRFTOKEN="j" * 32
    )
    assert response.status_code == 403
    assert not AccessRequest.objects.exists()


def test_session_post_with_csrf_token_is_accepted(api_policy, requester):
    client = session_client(requester)
    client.cookies["csrftoken"] = CSRF
    response = client.post(
        url("requests/"), {"roles": ["db-admin"]}, format="json", HTTP_X_CSRFTOKEN=CSRF
    )
    assert response.status_code == 201
    assert AccessRequest.objects.get().user == requester


def test_token_authentication_needs_no_csrf(api):
    client = api("alice")
    client.handler.enforce_csrf_checks = True
    response = client.post(url("requests/"), {"roles": ["db-admin"]}, format="json")
    assert response.status_code == 201


def test_wrong_token_is_401(api_policy):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(url("me/"))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
    assert response["WWW-Authenticate"] == "Bearer"
