"""`accessctl credentials` against a live server: the token it prints verifies with the
server's JWKS alone, as `$(accessctl credentials)` hands it to another service."""

from __future__ import annotations

import threading

import jwt
import pytest
from rest_framework.authtoken.models import Token

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _server_idle_at_teardown(transactional_db, live_server):
    """Wait for the live server's request threads (test_live.py says why)."""
    yield
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "process_request_thread" in thread.name:
            thread.join(timeout=10)


@pytest.fixture
def alice_env(live_server, requester):
    token = Token.objects.create(user=requester).key
    return {"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": token}


def _verify(live_server, token: str) -> dict:
    key = jwt.PyJWKClient(live_server.url + "/.well-known/jwks.json").get_signing_key_from_jwt(
        token
    )
    return jwt.decode(token, key, algorithms=["EdDSA", "ES256"], audience="accessportal")


def test_credentials_prints_the_token_alone(run, alice_env, live_server, requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")

    result = run("credentials", env=alice_env)

    assert result.code == 0 and result.err == ""
    token = result.out.strip()
    assert result.out == token + "\n" and token.count(".") == 2
    claims = _verify(live_server, token)
    assert claims["sub"] == "alice" and claims["grants"][0]["role"] == "db-admin"


@pytest.mark.parametrize("flags", [("--output", "json"), ("--json",)], ids=["output", "json"])
def test_credentials_as_json_gives_the_token_and_its_end(run, alice_env, live_server, flags):
    result = run("credentials", *flags, env=alice_env)
    assert result.code == 0
    assert set(result.json) == {"token", "expires"}
    claims = _verify(live_server, result.json["token"])
    assert result.json["expires"].endswith("Z") and claims["exp"] - claims["iat"] == 300


def test_credentials_refused_audience_is_one_line_and_nonzero(run, alice_env):
    result = run("credentials", "--audience", "payroll", env=alice_env)
    assert result.code != 0 and result.out == ""
    # The server's `audience` field is named by the flag the person typed.
    assert result.err.startswith("accessctl: error: --audience 'payroll' is not allowed")
    assert result.err.count("\n") == 1


def test_credentials_with_a_wrong_token_says_so(run, live_server, db):
    env = {"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": "0" * 40}
    result = run("credentials", env=env)
    assert result.code != 0 and result.out == "" and "accessctl: error:" in result.err
