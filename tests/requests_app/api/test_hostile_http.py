"""Hostile input over HTTP: oversized bodies, deeply nested JSON, and Unicode edge cases in
reasons, names, query strings and headers, on every endpoint that takes them.

The service-level behaviour is proved in tests/requests_app/test_unicode_input.py (whose
texts are reused here); this file proves that the HTTP layer carries it through unchanged:
what the service keeps comes back exactly, what it refuses is a 400 naming the field, and
nothing else (413 for size, 415 for a compressed body, 400 for nesting) ever becomes a 500
or a partial write.
"""

from __future__ import annotations

import bz2
import json
import zlib

import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Review
from tests.requests_app.api.conftest import url
from tests.requests_app.test_unicode_input import ACCEPTED, REFUSED

WRITES = {
    # endpoint: (persona, the request it acts on, body besides the reason)
    "create": ("alice", None, {"roles": ["db-admin"]}),
    "reviews": ("bob", "pending", {"state": "DENIED"}),
    "withdraw": ("alice", "pending", {}),
    "deny": ("sam", "pending", {}),
    "revoke": ("alice", "approved", {}),
}


@pytest.fixture
def write(api, request):
    """write("reviews", body) posts `body` to that endpoint, as the persona it is for."""

    def _post(endpoint: str, body, *, raw: bytes | None = None, charset: str | None = None):
        persona, target, _ = WRITES[endpoint]
        path = "requests/"
        if target is not None:
            path = f"requests/{request.getfixturevalue(target).id}/{endpoint}/"
        data = raw if raw is not None else json.dumps(body).encode()
        content_type = "application/json" + (f"; charset={charset}" if charset else "")
        return api(persona).generic("POST", url(path), data, content_type=content_type)

    return _post


def _snapshot():
    return (
        AccessRequest.objects.count(),
        list(AccessRequest.objects.values_list("id", "state").order_by("id")),
        Review.objects.count(),
        AuditEvent.objects.count(),
    )


# --- oversized bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", WRITES)
def test_a_body_over_django_s_upload_limit_is_413_on_every_write(write, endpoint, request):
    """The real default limit (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MiB), not a lowered one."""
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit == 2_621_440
    before = _snapshot()
    body = {**WRITES[endpoint][2], "reason": "x" * (limit + 1)}

    response = write(endpoint, body)

    assert response.status_code == 413
    assert response.json()["detail"] == f"request body larger than {limit} bytes"
    assert _snapshot() == before


@pytest.mark.parametrize("endpoint", WRITES)
def test_a_compressed_body_under_the_limit_is_not_inflated_past_it(write, endpoint, request):
    """`charset=zlib` (or bz2) named a codec Python decoded with: 49 KB became 50 MB."""
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])
    before = _snapshot()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({**WRITES[endpoint][2], "reason": "x" * (2 * limit)}).encode()
    for charset, compress in (("zlib", zlib.compress), ("bz2", bz2.compress)):
        raw = compress(body)
        assert len(raw) < limit // 100

        response = write(endpoint, None, raw=raw, charset=charset)

        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"
        assert charset in response.json()["detail"]
    assert _snapshot() == before


@pytest.mark.parametrize("endpoint", WRITES)
def test_a_body_just_under_the_limit_is_read_and_refused_for_what_it_says(write, endpoint, request):
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])
    before = _snapshot()
    body = {**WRITES[endpoint][2], "reason": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 100)}

    response = write(endpoint, body)

    assert response.status_code == 400
    assert "no more than 4096 characters" in response.json()["errors"]["reason"][0]
    assert _snapshot() == before


def test_the_token_endpoint_refuses_oversized_bodies_too(api_policy):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"username": "alice", "password": "p" * (limit + 1)})
    response = APIClient().generic("POST", url("auth/token/"), body, "application/json")
    assert response.status_code == 413
    assert not Token.objects.exists()


# --- deeply nested JSON -------------------------------------------------------------------

DEPTH = 100_000  # far past Python's recursion limit
NESTED = {
    "arrays": "[" * DEPTH + "]" * DEPTH,
    "objects": '{"a":' * DEPTH + "1" + "}" * DEPTH,
    "in-a-field": '{"roles": ' + "[" * DEPTH + "]" * DEPTH + ', "reason": "x"}',
    "in-the-reason": '{"reason": ' + '{"r":' * DEPTH + "1" + "}" * DEPTH + "}",
    "unclosed": "[" * DEPTH,
}


@pytest.mark.parametrize("shape", NESTED)
@pytest.mark.parametrize("endpoint", WRITES)
def test_deeply_nested_json_is_a_400_everywhere(write, endpoint, shape, request):
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])
    before = _snapshot()

    response = write(endpoint, None, raw=NESTED[shape].encode())

    assert response.status_code == 400, response.content[:200]
    assert response.json()["detail"].startswith("JSON parse error")
    assert _snapshot() == before


@pytest.mark.parametrize("depth", [2, 50, 500])
def test_moderately_nested_values_are_refused_by_the_field_they_are_in(write, pending, depth):
    """Nesting that parses is still the wrong type for every field: a 400 naming it.
    (Far deeper, near Python's recursion limit less the frames of the middleware and the
    view, the parser refuses the body as nested too deeply: the test above.)"""
    body = {"state": "APPROVED", "reason": json.loads("[" * depth + '"x"' + "]" * depth)}
    response = write("reviews", body)
    assert response.status_code == 400
    assert "must be a string" in response.json()["errors"]["reason"][0]


# --- Unicode in reasons -------------------------------------------------------------------


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=ACCEPTED.keys())
@pytest.mark.parametrize("endpoint", WRITES)
def test_unicode_reasons_travel_through_the_api_exactly(write, api, endpoint, text, request):
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])

    response = write(endpoint, {**WRITES[endpoint][2], "reason": text})

    assert response.status_code in (200, 201), response.content[:300]
    answer = response.json()
    stored = {
        "create": answer["reason"],
        "reviews": answer["reviews"][-1]["reason"] if answer["reviews"] else None,
        "withdraw": answer["resolve_reason"],
        "deny": answer["resolve_reason"],
        "revoke": answer.get("revoke_reason"),
    }[endpoint]
    assert stored == text
    # The same text comes back when read again, and is in the audit log, chain intact.
    again = api("erin").get(url(f"requests/{answer['id']}/")).json()
    again.pop("requester_unused_grants")  # the detail's own: what reviewers should know
    assert again == answer
    events = api("erin").get(url("audit/"), {"target_id": answer["id"]}).json()["results"]
    assert events[0]["data"]["reason"] == text
    assert audit_verify().ok


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("endpoint", WRITES)
def test_hostile_reasons_are_a_400_naming_the_reason_and_write_nothing(
    write, endpoint, text, request
):
    if WRITES[endpoint][1]:
        request.getfixturevalue(WRITES[endpoint][1])
    before = _snapshot()

    response = write(endpoint, {**WRITES[endpoint][2], "reason": text})

    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["field"] == "reason" and body["code"] == "invalid", body
    assert _snapshot() == before


# --- Unicode in names, query strings and headers ------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("roles", ["db-admin\x00"]),
        ("roles", ["\ud800"]),
        ("resources", ["node/\u202e1-dorp-bd"]),
        ("resources", ["node/db-prod-1\x00"]),
        ("suggested_reviewers", ["bob\x00"]),
        ("suggested_reviewers", ["b\u202eob"]),
    ],
    ids=lambda v: ascii(v)[:30],
)
def test_hostile_names_are_a_400_naming_the_field(write, field, value):
    before = _snapshot()
    response = write("create", {"roles": ["db-admin"], "reason": "x", field: value})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field and field in body["errors"], body
    assert _snapshot() == before


UNICODE_USERS = """
kind: user
name: zoë.ñúñez
roles: [engineer]
---
kind: user
name: 李小龍
roles: [reviewer]
"""


def test_unicode_user_names_work_end_to_end_over_the_api(api, apply_yaml, user):
    apply_yaml(UNICODE_USERS)
    created = api("zoë.ñúñez").post(url("requests/"), {"roles": ["db-admin"]}, format="json")
    assert created.status_code == 201 and created.json()["user"] == "zoë.ñúñez"
    request_id = created.json()["id"]
    reviewed = api("李小龍").post(
        url(f"requests/{request_id}/reviews/"), {"state": "APPROVED", "reason": "好"}, format="json"
    )
    assert reviewed.status_code == 201 and reviewed.json()["state"] == "APPROVED"
    assert reviewed.json()["reviews"][0]["reviewer"] == "李小龍"
    # Found again by their names in query strings.
    mine = api("erin").get(url("requests/"), {"user": "zoë.ñúñez"}).json()
    assert [r["id"] for r in mine["results"]] == [request_id]
    check = api("ivy").get(url("access/check/"), {"user": "zoë.ñúñez", "role": "db-admin"})
    assert check.json()["allowed"] is True and check.json()["user"] == "zoë.ñúñez"
    actors = api("erin").get(url("audit/"), {"actor": "李小龍"}).json()["results"]
    assert {e["action"] for e in actors} == {"review.submitted", "request.approved"}
    assert audit_verify().ok


@pytest.mark.parametrize(
    "query",
    [
        "search=%F0%9F%98%80",  # 😀
        "search=%E2%80%AEevil",  # a bidi override is only text to search for
        "label=env%3D%D0%BF%D1%80%D0%BE%D0%B4",  # env=прод
        "search=%FF%FE",  # not UTF-8 at all
        "kind=%ED%A0%80",  # an encoded lone surrogate
        "search=" + "%F0%9F%98%80" * 2000,
    ],
)
def test_unicode_and_undecodable_query_strings_are_answered(api, query):
    response = api("alice").get(f"{url('resources/')}?{query}")
    assert response.status_code in (200, 400), response.content[:200]
    assert response.json()


@pytest.mark.parametrize("name", ["%00", "%ED%A0%80", "a%E2%80%AEb", "%FF"])
def test_hostile_user_names_in_query_strings_are_4xx(api, name):
    response = api("ivy").get(f"{url('access/check/')}?user={name}&role=db-admin")
    assert 400 <= response.status_code < 500, response.content[:200]
    body = response.json()
    assert body["field"] == "user", body


@pytest.mark.parametrize(
    "header", ["Token ключ", "Token 😀", "Token \x00abc", "Token a b", "Token " + "a" * 10_000]
)
def test_a_garbled_authorization_header_is_a_401(api_policy, header):
    client = APIClient()
    response = client.get(url("me/"), HTTP_AUTHORIZATION=header.encode().decode("latin-1"))
    assert response.status_code == 401
    assert "token" in response.json()["detail"].lower()
