"""Every answer under /api/ is JSON, in DEBUG and in production mode alike: a write to a path
without its trailing slash is a 404 naming the right path (never Django's APPEND_SLASH
RuntimeError, never a 301 that a client follows as a GET, dropping the write), and an
unexpected exception is a 500 `{"detail", "code"}`, not Django's HTML page.
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from requests_app.api.views import requests as request_views
from requests_app.models import AccessRequest
from tests.requests_app.api.conftest import url

MODES = [pytest.param(True, id="debug"), pytest.param(False, id="production")]


@pytest.fixture(params=MODES)
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def client_for(api_policy, user):
    """A token client that gets the server's answer to an exception instead of re-raising
    it, as a real client would."""

    def _client(name: str) -> APIClient:
        client = APIClient(raise_request_exception=False)
        token, _ = Token.objects.get_or_create(user=user(name))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_write_without_the_trailing_slash_is_a_json_404_naming_the_path(
    client_for, debug, method
):
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = getattr(client_for("alice"), method)("/api/v1/requests", body, format="json")
    assert answer.status_code == 404
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {
        "detail": f"API paths end with a slash: {method.upper()} /api/v1/requests/",
        "code": "not_found",
    }
    assert not AccessRequest.objects.exists()


def test_the_same_write_with_the_slash_works(client_for, debug):
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = client_for("alice").post("/api/v1/requests/", body, format="json")
    assert answer.status_code == 201
    assert AccessRequest.objects.count() == 1


def test_a_read_without_the_trailing_slash_still_redirects_with_its_query(client_for, debug):
    answer = client_for("alice").get("/api/v1/requests", {"scope": "mine"})
    assert answer.status_code == 301
    assert answer["Location"] == "/api/v1/requests/?scope=mine"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nope/", "/api/v1/", "/api/"])
def test_an_unknown_api_path_is_a_json_404_with_or_without_slash(client_for, debug, path):
    for method in ("get", "post"):
        answer = getattr(client_for("alice"), method)(path, {}, format="json")
        assert answer.status_code == 404, (method, path)
        assert answer.json() == {
            "detail": "no such API endpoint: see /api/docs/",
            "code": "not_found",
        }


def test_an_unexpected_exception_is_a_json_500(client_for, debug, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("a bug in the service")

    monkeypatch.setattr(request_views, "access_request_create", broken)
    body = {"roles": ["db-admin"], "reason": "INC-1"}
    answer = client_for("alice").post(url("requests/"), body, format="json")
    assert answer.status_code == 500
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {"detail": "internal server error", "code": "server_error"}
    # The traceback is logged for the operator (Django's "django.request" logger), not sent.
    assert any(r.exc_info and "a bug in the service" in str(r.exc_info[1]) for r in caplog.records)


def test_a_crash_outside_the_api_views_is_json_under_api_only(settings):
    """Production mode: Django's handler500 answers JSON under /api/, its page elsewhere."""
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.requests_app.api.crash_urls"
    client = APIClient(raise_request_exception=False)
    api_crash = client.get("/api/test-crash/")
    assert api_crash.status_code == 500
    assert api_crash.json() == {"detail": "internal server error", "code": "server_error"}
    page_crash = client.get("/test-crash/")
    assert page_crash.status_code == 500
    assert page_crash["Content-Type"].startswith("text/html")
