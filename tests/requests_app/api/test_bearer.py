"""`Authorization: Bearer <key>`, the scheme the schema declares, and DRF's `Token <key>`
that accessctl and older scripts send: both authenticate; anything else is a 401 in the
one error shape, and the schema's tokenAuth is an HTTP bearer scheme, so a client generated
from it authenticates with its defaults (openapi-python-client sends `Bearer`)."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.requests_app.api.conftest import url


@pytest.fixture
def key(api_policy, requester) -> str:
    return Token.objects.get_or_create(user=requester)[0].key


@pytest.mark.parametrize("word", ["Bearer", "Token", "bearer", "TOKEN"])
def test_either_keyword_authenticates(key, word):
    answer = APIClient().get(url("me/"), HTTP_AUTHORIZATION=f"{word} {key}")
    assert answer.status_code == 200
    assert answer.json()["user"] == "alice"


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer " + "0" * 40, "Token not-a-key", "Bearer \u00e9\u00e9"],
)
def test_a_bad_bearer_header_is_a_401_in_the_one_shape(api_policy, header):
    answer = APIClient().get(url("me/"), HTTP_AUTHORIZATION=header.encode().decode("latin-1"))
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Bearer"
    assert answer.json()["code"] == "authentication_failed"


def test_another_scheme_is_not_ours_and_answers_not_authenticated(api_policy):
    answer = APIClient().get(url("me/"), HTTP_AUTHORIZATION="Basic YWxpY2U6eA==")
    assert answer.status_code == 401
    assert answer.json()["code"] == "not_authenticated"


def test_the_schema_declares_an_http_bearer_scheme(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
