"""`accessctl login --sso` over HTTP: the portal's confirm pages and the API that trades codes.

The loopback flow as the CLI drives it: GET /cli/login/ (signed in), POST approve, follow
the redirect's code to POST /api/v1/auth/cli/token/; the device flow through
/api/v1/auth/device/ and /cli/device/.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app.models import ApiToken

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
STATE = "st4te-of-the-cli"


def challenge(verifier: str = VERIFIER) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


PARAMS = {"port": "51234", "state": STATE, "code_challenge": challenge()}


def approve(client: Client, **overrides) -> str:
    """Confirm on the page; the code the browser is sent to the CLI with."""
    response = client.post("/cli/login/", {**PARAMS, **overrides, "action": "approve"})
    assert response.status_code == 302, response.content
    target = urlsplit(response["Location"])
    assert (target.scheme, target.hostname, target.path) == ("http", "127.0.0.1", "/callback")
    assert target.port == int(overrides.get("port", PARAMS["port"]))
    query = parse_qs(target.query)
    assert query["state"] == [overrides.get("state", STATE)]
    return query["code"][0]


def exchange(code: str, verifier: str = VERIFIER, client: Client | None = None):
    return (client or Client()).post(
        "/api/v1/auth/cli/token/",
        {"code": code, "code_verifier": verifier},
        content_type="application/json",
    )


def test_the_confirm_page_says_where_and_what(alice_client, settings):
    settings.ACCESSPORTAL_CLI_TOKEN_TTL = 12 * 3600
    response = alice_client.get("/cli/login/", PARAMS)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Sign in accessctl on this machine?" in page and "127.0.0.1:51234" in page
    assert "acts as <strong>alice</strong> for\n  12 hours" in page
    assert "Cancel" in page and "csrfmiddlewaretoken" in page
    assert "form-action 'self' http://127.0.0.1:51234" in response["Content-Security-Policy"]
    assert ApiToken.objects.count() == 0  # a GET mints nothing


def test_signed_out_visitors_are_sent_to_sign_in_first(db):
    response = Client().get("/cli/login/", PARAMS)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_confirm_needs_csrf(requester):
    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    assert client.post("/cli/login/", {**PARAMS, "action": "approve"}).status_code == 403


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"port": "80"}, "port must be a number from 1024 to 65535"),
        ({"port": "evil.example.com"}, "port must be"),
        ({"state": "<script>"}, "state must be"),
        ({"code_challenge": ""}, "code_challenge must be"),
    ],
)
def test_bad_parameters_get_a_400_page(alice_client, params, message):
    response = alice_client.get("/cli/login/", {**PARAMS, **params})
    assert response.status_code == 400 and message in response.content.decode()
    response = alice_client.post("/cli/login/", {**PARAMS, **params, "action": "approve"})
    assert response.status_code == 400


def test_cancel_tells_the_cli_and_mints_nothing(alice_client):
    response = alice_client.post("/cli/login/", {**PARAMS, "action": "cancel"})
    assert response["Location"] == (
        f"http://127.0.0.1:51234/callback?error=access_denied&state={STATE}"
    )
    assert ApiToken.objects.count() == 0


def test_code_exchange_gives_the_approvers_token(alice_client, requester):
    response = exchange(approve(alice_client))
    assert response.status_code == 200
    body = response.json()
    assert body["user"] == "alice" and set(body) == {"token", "expires_at", "user"}
    me = Client(HTTP_AUTHORIZATION=f"Token {body['token']}").get("/api/v1/me/")
    assert me.json()["user"] == "alice"


def test_code_exchange_with_a_wrong_verifier_is_400(alice_client):
    response = exchange(approve(alice_client), verifier="w" * 43)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "code_verifier does not match the code's challenge",
        "code": "invalid",
        "field": "code_verifier",
        "errors": {"code_verifier": ["code_verifier does not match the code's challenge"]},
    }


def test_a_code_is_used_once(alice_client):
    code = approve(alice_client)
    assert exchange(code).status_code == 200
    second = exchange(code)
    assert second.status_code == 400 and second.json()["detail"] == "this code was already used"


def test_an_expired_code_is_400(alice_client):
    code = approve(alice_client)
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        response = exchange(code)
    assert response.status_code == 400 and "this code expired" in response.json()["detail"]


def test_the_token_is_the_approvers_whoever_trades_the_code(alice_client, bob_client):
    """bob, signed in, cannot turn alice's code into a token of his, nor bind his session
    to it: the exchange ignores the caller, and with another verifier it fails."""
    alice_code = approve(alice_client)
    bob_verifier = "b" * 43
    bob_code = approve(bob_client, code_challenge=challenge(bob_verifier))
    assert exchange(alice_code, verifier=bob_verifier, client=bob_client).status_code == 400
    assert exchange(bob_code, verifier=VERIFIER).status_code == 400
    assert exchange(alice_code, client=bob_client).json()["user"] == "alice"
    assert exchange(bob_code, verifier=bob_verifier).json()["user"] == "bob"


@pytest.mark.parametrize(
    "body",
    [{}, {"code": "x"}, {"code": ["x"], "code_verifier": VERIFIER}, {"code": "x" * 500}],
)
def test_bad_exchange_bodies_are_400(db, body):
    response = Client().post("/api/v1/auth/cli/token/", body, content_type="application/json")
    assert response.status_code == 400


def test_bad_bodies_are_refused_naming_the_field(db):
    response = Client().post(
        "/api/v1/auth/cli/token/",
        {"code": "x", "code_verifier": VERIFIER, "port": 1},
        content_type="application/json",
    )
    assert response.json()["field"] == "port"
    assert response.json()["detail"].startswith(
        "port: unknown field (allowed: code, code_verifier)"
    )
    response = Client().post("/api/v1/auth/cli/token/", {}, content_type="application/json")
    assert response.json() == {
        "detail": "code: This field is required.",
        "code": "invalid",
        "field": "code",
        "errors": {
            "code": ["This field is required."],
            "code_verifier": ["This field is required."],
        },
    }


def test_unknown_code_is_400(db):
    response = exchange("no-such-code")
    assert response.status_code == 400 and "unknown code" in response.json()["detail"]


# -- device flow ---------------------------------------------------------------------------


def test_device_flow_over_http(alice_client):
    start = Client().post("/api/v1/auth/device/").json()
    assert start["verification_uri"] == "http://testserver/cli/device/"
    assert start["verification_uri_complete"].endswith(f"?user_code={start['user_code']}")
    assert (start["interval"], start["expires_in"]) == (5, 600)

    def poll():
        return Client().post(
            "/api/v1/auth/device/token/",
            {"device_code": start["device_code"]},
            content_type="application/json",
        )

    pending = poll()
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    page = alice_client.get("/cli/device/", {"user_code": start["user_code"]}).content.decode()
    assert f'value="{start["user_code"]}"' in page
    done = alice_client.post("/cli/device/", {"user_code": start["user_code"], "action": "approve"})
    assert "is signed in as alice" in done.content.decode()
    with time_machine.travel(timezone.now() + timedelta(seconds=6)):
        token = poll()
    assert token.status_code == 200 and token.json()["user"] == "alice"


def test_a_wrong_user_code_is_told_and_throttled(alice_client, settings):
    settings.ACCESSPORTAL_CLI_USER_CODE_GUESSES = 2
    for _ in range(2):
        response = alice_client.post(
            "/cli/device/", {"user_code": "BBBB-BBBB", "action": "approve"}
        )
        assert response.status_code == 400
        assert "No sign-in is waiting for this code" in response.content.decode()
    response = alice_client.post("/cli/device/", {"user_code": "BBBB-BBBB", "action": "approve"})
    assert response.status_code == 429 and "Too many wrong codes" in response.content.decode()


def test_bad_device_poll_bodies_are_400(db):
    for body in ({}, {"device_code": 5}, {"device_code": "x" * 500}, {"device_code": "nope"}):
        response = Client().post(
            "/api/v1/auth/device/token/", body, content_type="application/json"
        )
        assert response.status_code == 400


# -- my sessions on the tokens page --------------------------------------------------------


def test_my_sessions_are_listed_and_one_can_be_signed_out(alice_client, bob_client):
    key = exchange(approve(alice_client)).json()["token"]
    session = ApiToken.objects.get()
    page = alice_client.get("/tokens/").content.decode()
    assert "accessctl sessions" in page and "(cli:loopback)" in page
    assert "No accessctl session" in bob_client.get("/tokens/").content.decode()
    # bob cannot end alice's session
    bob_client.post(f"/tokens/sessions/{session.pk}/revoke/")
    me = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/me/")
    assert me.status_code == 200
    response = alice_client.post(f"/tokens/sessions/{session.pk}/revoke/", follow=True)
    assert "Signed out: that accessctl session is refused from now on." in response.content.decode()
    me = Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/me/")
    assert me.status_code == 401 and me.json()["code"] == "token_revoked"
    event = AuditEvent.objects.latest("id")
    assert event.action == "api_token.revoked" and event.data["session_token"] == session.pk
    assert key not in str(event.data)
