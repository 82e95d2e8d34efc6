"""`POST /api/v1/auth/token/`: a user name and password buy the user's API token."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from tests.concurrency import run_together

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
    assert answer.json() == {
        "detail": "Unable to log in with provided credentials.",
        "code": "invalid",
        "errors": {"non_field_errors": ["Unable to log in with provided credentials."]},
    }
    assert not Token.objects.exists()


def test_missing_fields_are_named(alice_with_password):
    answer = APIClient().post(URL, {"username": "alice"}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "password: This field is required.",
        "code": "invalid",
        "field": "password",
        "errors": {"password": ["This field is required."]},
    }


def test_only_json_is_accepted(alice_with_password):
    answer = APIClient().post(URL, {"username": "alice", "password": "correct horse battery"})
    assert answer.status_code == 415
    assert not Token.objects.exists()


def test_the_first_password_login_creates_the_token_through_the_audited_service(
    alice_with_password,
):
    body = {"username": "alice", "password": "correct horse battery"}
    first = APIClient().post(URL, body, format="json")
    again = APIClient().post(URL, body, format="json")
    assert first.json() == again.json()
    events = list(AuditEvent.objects.filter(action__startswith="api_token."))
    assert [(e.action, e.actor_name) for e in events] == [("api_token.created", "alice")]
    assert events[0].data == {"user": "alice", "replaced": False, "via": "password"}
    assert first.json()["token"] not in str(events[0].data)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_a_double_clicked_first_login_gives_both_clicks_the_same_token(alice_with_password, round_):
    """Two first logins of one user at the same instant, each on its own connection: both
    get the one token, created and audited once (no IntegrityError, no second token)."""
    body = {"username": "alice", "password": "correct horse battery"}
    answers = run_together(*[lambda: APIClient().post(URL, body, format="json")] * 2)
    assert all(a.ok for a in answers), [a.error for a in answers]
    assert [a.value.status_code for a in answers] == [200, 200]
    key = Token.objects.get(user__username="alice").key
    assert [a.value.json() for a in answers] == [{"token": key}] * 2
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1
    assert audit_verify().ok


@pytest.mark.parametrize(
    "stale",
    [{"HTTP_AUTHORIZATION": "Token " + "0" * 40}, {"HTTP_AUTHORIZATION": "Bearer nonsense"}],
)
def test_signing_in_ignores_a_stale_token_header(alice_with_password, stale):
    """The schema declares no security on this operation: the password is the credential."""
    body = {"username": "alice", "password": "correct horse battery"}
    answer = APIClient().post(URL, body, format="json", **stale)
    assert answer.status_code == 200
    assert answer.json()["token"] == Token.objects.get(user=alice_with_password).key


def test_signing_in_from_a_portal_session_needs_no_csrf_token(alice_with_password):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice_with_password)
    body = {"username": "alice", "password": "correct horse battery"}
    answer = client.post(URL, body, format="json")
    assert answer.status_code == 200, answer.content
