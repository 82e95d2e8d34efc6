"""`POST /api/v1/auth/token/`: a user name and password buy the user's API token."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

URL = "/api/v1/auth/token/"


@pytest.fixture
def alice_with_password(requester):
    requester.set_password("correct horse battery")
    requester.save()
    return requester


def test_right_password_returns_the_users_token_every_time(alice_with_password):
    client = APIClient()
    body = {"username": "alice", "password": "correct horse battery"}
    first = client.post(URL, body, format="json")
    assert first.status_code == 200
    assert first.json() == {"token": Token.objects.get(user=alice_with_password).key}
    assert client.post(URL, body, format="json").json() == first.json()
    me = APIClient(HTTP_AUTHORIZATION=f"Token {first.json()['token']}").get("/api/v1/me/")
    assert me.json()["user"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "correct horse battery"},
    ],
)
def test_wrong_credentials_get_a_400_and_no_token(alice_with_password, body):
    answer = APIClient().post(URL, body, format="json")
    assert answer.status_code == 400
    assert answer.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    assert not Token.objects.exists()


def test_missing_fields_are_named(alice_with_password):
    answer = APIClient().post(URL, {"username": "alice"}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {"password": ["This field is required."]}


def test_only_json_is_accepted(alice_with_password):
    answer = APIClient().post(URL, {"username": "alice", "password": "correct horse battery"})
    assert answer.status_code == 415
    assert not Token.objects.exists()
