"""The downstream story: a service verifies a credential with PyJWT and nothing but the
JWKS it fetches over HTTP from a running Access Portal (pytest-django's live server)."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from datetime import UTC, datetime

import jwt
import pytest
from rest_framework.authtoken.models import Token

from requests_app.services.access_requests import access_request_create
from requests_app.services.credentials import signing_key_rotate
from requests_app.services.reviews import review_submit
from tests.requests_app.api.conftest import url

# Transactional: the live server thread must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def _server_idle_at_teardown(transactional_db, live_server):
    """Wait for the live server's request threads before database access is blocked
    again (tests/accessctl/test_live.py says why)."""
    yield
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "process_request_thread" in thread.name:
            thread.join(timeout=10)


def _post(live_server, token: str | None, body: dict | None = None):
    request = urllib.request.Request(
        live_server.url + "/api/v1/credentials/",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Token {token}"} if token else {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_a_downstream_service_verifies_a_credential_with_only_the_jwks(
    live_server, requester, reviewer
):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-9")
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    token = Token.objects.create(user=requester).key

    status, headers, body = _post(live_server, token)
    assert status == 201 and headers["Cache-Control"] == "no-store"

    # What the README tells a downstream service to write:
    jwks = jwt.PyJWKClient(live_server.url + "/.well-known/jwks.json")
    key = jwks.get_signing_key_from_jwt(body["token"])
    claims = jwt.decode(
        body["token"], key, algorithms=["EdDSA", "ES256"], audience="accessportal",
        issuer="accessportal", leeway=30,
    )  # fmt: skip

    assert set(body) == {"token", "expires", "kid", "claims"}
    assert claims == body["claims"] and claims["sub"] == "alice"
    expires = datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["expires"] == expires
    assert claims["grants"][0]["role"] == "db-admin"
    assert claims["grants"][0]["request"] == str(request.id)
    assert key.key_id == body["kid"]


def test_jwks_is_public_cacheable_and_holds_public_keys_only(live_server, db):
    signing_key_rotate(immediately=True)
    signing_key_rotate(alg="ES256")
    with urllib.request.urlopen(live_server.url + "/.well-known/jwks.json", timeout=30) as r:
        assert r.headers["Cache-Control"] == "public, max-age=300"
        keys = json.loads(r.read())["keys"]
    assert sorted(k["alg"] for k in keys) == ["ES256", "EdDSA"]
    assert all("d" not in k and k["use"] == "sig" for k in keys)


def test_an_unauthenticated_call_is_401(live_server, db):
    status, _, body = _post(live_server, None)
    assert status == 401 and "detail" in body


def test_a_key_sealed_under_another_kek_answers_503_not_500(live_server, requester, settings):
    token = Token.objects.create(user=requester).key
    settings.ACCESSPORTAL_CREDENTIAL_KEY = base64.b64encode(b"a" * 32).decode()
    assert _post(live_server, token)[0] == 201
    settings.ACCESSPORTAL_CREDENTIAL_KEY = base64.b64encode(b"b" * 32).decode()
    status, _, body = _post(live_server, token)
    assert status == 503 and body["code"] == "credential_key_unusable"
    assert "credential_keys rotate --now" in body["detail"]


def test_an_audience_outside_the_allow_list_is_422(live_server, requester, settings):
    settings.CREDENTIAL_AUDIENCES = ["billing-api"]
    token = Token.objects.create(user=requester).key
    status, _, body = _post(live_server, token, {"audience": "payroll"})
    assert status == 422 and body["field"] == "audience"
    status, _, body = _post(live_server, token, {"audience": "billing-api"})
    assert status == 201 and body["claims"]["aud"] == "billing-api"


def test_schema_documents_the_endpoint(client, db):
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"][url("credentials/")]["post"]
    assert operation["operationId"] == "credential_issue"
    assert {"201", "400", "401", "503"} <= set(operation["responses"])
