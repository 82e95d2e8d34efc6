"""Bad input gets a 4xx with a message: never a 500, never a partial write."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Review
from tests.requests_app.api.conftest import url

GOOD = {"roles": ["db-admin"], "reason": "INC-1"}


@pytest.fixture
def unchanged(db):
    """Asserts, after the test, that no request, review or audit event was written."""
    before = (AccessRequest.objects.count(), Review.objects.count(), AuditEvent.objects.count())
    yield
    after = (AccessRequest.objects.count(), Review.objects.count(), AuditEvent.objects.count())
    assert after == before, "bad input must not write anything"


def post_raw(client, path: str, raw: str | bytes, content_type="application/json"):
    return client.generic("POST", url(path), raw, content_type=content_type)


def message_of(body) -> str:
    """The human messages, in either of DRF's shapes (nested for list items)."""
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    if isinstance(body, dict):
        return " ".join(message_of(v) for v in body.values())
    if isinstance(body, list):
        return " ".join(message_of(v) for v in body)
    return str(body)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"roles": ["db-admin"]', "JSON parse error"),
        ("", "ask for at least one role or resource"),
        ("not json at all", "JSON parse error"),
        ('{"roles": NaN}', "JSON parse error"),
        ("[" * 100_000 + "]" * 100_000, "JSON parse error"),
        (b'{"reason": "\xff\xfe"}', "JSON parse error"),
        ('["db-admin"]', "Expected a dictionary"),
        ('"db-admin"', "Expected a dictionary"),
        ("null", "No data provided"),
    ],
    ids=["truncated", "empty", "text", "nan", "deep-nesting", "bad-utf8", "list", "string", "null"],
)
def test_malformed_body_is_400(api, unchanged, raw, expected):
    response = post_raw(api("alice"), "requests/", raw)
    assert response.status_code == 400
    assert expected in message_of(response.json())


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({**GOOD, "roles": "db-admin"}, "roles", 'Expected a list of items but got type "str"'),
        ({**GOOD, "roles": [1, {"a": 1}]}, "roles", "must be a string, not int"),
        ({**GOOD, "roles": [""]}, "roles", "may not be blank"),
        ({**GOOD, "reason": ["x"]}, "reason", "must be a string, not list"),
        ({**GOOD, "reason": 5}, "reason", "must be a string, not int"),
        ({**GOOD, "reason": "x" * 5000}, "reason", "no more than 4096 characters"),
        ({**GOOD, "reason": "nul\x00byte"}, "reason", "Null characters are not allowed"),
        ({**GOOD, "reason": "\ud800"}, "reason", "Surrogate characters are not allowed"),
        ({**GOOD, "dry_run": "maybe"}, "dry_run", "Must be a valid boolean"),
        ({**GOOD, "max_duration": "forever"}, "max_duration", "is not a duration"),
        ({**GOOD, "max_duration": True}, "max_duration", "not a boolean"),
        ({**GOOD, "max_duration": -5}, "max_duration", "must be positive"),
        ({**GOOD, "max_duration": 10**30}, "max_duration", "may be at most 14d"),
        ({**GOOD, "max_duration": "9" * 10_000}, "max_duration", "not a duration"),
        ({**GOOD, "request_ttl": [60]}, "request_ttl", "is not a duration"),
        ({**GOOD, "assume_start_time": "tomorrow"}, "assume_start_time", "wrong format"),
        ({**GOOD, "assume_start_time": "2030-01-01T10:00:00"}, "assume_start_time", "offset"),
        ({**GOOD, "assume_start_time": 1893456000}, "assume_start_time", "wrong format"),
        ({**GOOD, "resources": [f"node/n{i}" for i in range(301)]}, "resources", "300"),
        ({**GOOD, "roles": ["r" * 101]}, "roles", "no more than 100 characters"),
        ({**GOOD, "roles_": ["db-admin"]}, "roles_", "unknown field"),
        ({**GOOD, "\ud800" * 200: 1}, "\\ud800" * 10, "unknown field"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_wrong_types_and_limits_are_400_naming_the_field(api, unchanged, body, field, expected):
    raw = json.dumps(body)  # ensure_ascii: lone surrogates travel as \ud800 escapes
    response = post_raw(api("alice"), "requests/", raw)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert errors["code"] == "invalid" and errors["field"].startswith(field[:20])
    assert expected in message_of(errors)


def test_past_start_time_is_refused_by_the_service(api, unchanged):
    body = {**GOOD, "assume_start_time": "2001-01-01T00:00:00+02:00"}
    response = api("alice").post(url("requests/"), body, format="json")
    assert response.status_code == 422  # well-formed, refused for what it says
    assert response.json() == {
        "detail": "assume_start_time is in the past",
        "code": "unprocessable",
        "field": "assume_start_time",
        "errors": {"assume_start_time": ["assume_start_time is in the past"]},
    }


def test_body_over_the_upload_limit_is_413(api, unchanged, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = post_raw(api("alice"), "requests/", json.dumps({**GOOD, "reason": "x" * 20_000}))
    assert response.status_code == 413
    assert response.json()["detail"] == "request body larger than 10000 bytes"


def test_form_encoded_body_is_415(api, unchanged):
    response = post_raw(
        api("alice"), "requests/", "roles=db-admin", "application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


@pytest.mark.parametrize(
    "bad_id",
    ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%00", "x" * 5000, "a.b"],
)
@pytest.mark.parametrize("action", ["", "reviews/", "withdraw/", "approve/", "revoke/", "extend/"])
def test_bad_request_ids_are_404(api, unchanged, bad_id, action):
    client = api("bob")
    method = client.post if action else client.get
    response = method(url(f"requests/{bad_id}/{action}"), {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "no such access request"


@pytest.mark.parametrize(
    "body",
    [
        {"state": "MAYBE"},
        {"state": "approved"},
        {},
        {"state": "APPROVED", "reason": "x" * 5000},
        {"state": "APPROVED", "extra": 1},
        {"state": "APPROVED", "assume_start_time": "soon"},
    ],
)
def test_bad_review_bodies_are_400(api, pending, unchanged, body):
    response = api("bob").post(url(f"requests/{pending.id}/reviews/"), body, format="json")
    assert response.status_code == 400
    assert message_of(response.json())


@pytest.mark.parametrize("action", ["withdraw/", "approve/", "deny/", "revoke/"])
def test_bad_reason_bodies_are_400(api, pending, unchanged, action):
    client = api("sam")
    for body in ({"reason": 5}, {"reason": "x" * 4097}, {"because": "x"}, [1]):
        response = client.post(url(f"requests/{pending.id}/{action}"), body, format="json")
        assert response.status_code == 400, (action, body)
        assert message_of(response.json())


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({"reason": 5}, "reason", "must be a string, not int"),
        ({"reason": "x" * 4097}, "reason", "no more than 4096 characters"),
        ({"max_duration": "forever"}, "max_duration", "is not a duration"),
        ({"request_ttl": -1}, "request_ttl", "must be positive"),
        ({"suggested_reviewers": "bob"}, "suggested_reviewers", "Expected a list"),
        ({"dry_run": "maybe"}, "dry_run", "Must be a valid boolean"),
        # An extension continues the same access: roles and start are not the caller's to pick.
        ({"roles": ["dev-admin"]}, "roles", "unknown field"),
        ({"assume_start_time": "2030-01-01T00:00:00Z"}, "assume_start_time", "unknown field"),
    ],
)
def test_bad_extend_bodies_are_400_naming_the_field(
    api, approved, unchanged, body, field, expected
):
    response = api("alice").post(url(f"requests/{approved.id}/extend/"), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert errors["field"] == field
    assert expected in message_of(errors)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("requests/", {"state": "BOGUS"}),
        ("requests/", {"scope": "everything"}),
        ("requests/", {"user": "a\x00b"}),
        ("requests/", {"page": "abc"}),
        ("requests/", {"page": "99"}),
        ("grants/", {"active": "maybe"}),
        ("grants/", {"request": "not-a-uuid"}),
        ("resources/", {"label": "noequals"}),
        ("resources/", {"label": ["env=prod", "x=\x00"]}),
        ("resources/", {"label": [f"k{i}=v" for i in range(11)]}),
        ("resources/", {"kind": "a\x00"}),
        ("roles/", {"requestable": "perhaps"}),
        ("access/check/", {"role": "r" * 101}),
        ("access/check/", {"role": "a\x00"}),
        ("audit/", {"since": "yesterday"}),
        ("audit/", {"ordering": "hash"}),
    ],
)
def test_bad_query_parameters_are_4xx_with_a_message(api, path, params):
    response = api("erin").get(url(path), params)
    assert 400 <= response.status_code < 500, response.content
    assert message_of(response.json())


def test_unknown_query_parameters_are_ignored(api):
    response = api("alice").get(url("requests/"), {"colour": "blue"})
    assert response.status_code == 200


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
FIELDS = st.sampled_from(
    ["roles", "resources", "reason", "max_duration", "request_ttl", "assume_start_time",
     "suggested_reviewers", "dry_run", "state", "unknown"]
)  # fmt: skip


@hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.dictionaries(FIELDS, JSON_VALUES, max_size=5) | JSON_VALUES)
def test_any_json_body_gets_an_answer_never_a_500(api_policy, requester, body):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=requester)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = post_raw(client, "requests/", json.dumps(body))
    assert response.status_code in (200, 201, 400, 403), response.content
    if response.status_code >= 400:
        assert message_of(response.json())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": "abc"}, "page"),
        ({"page": ""}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-3"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page_size": "0.5"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": ""}, "page_size"),
    ],
)
@pytest.mark.parametrize("path", ["requests/", "grants/", "roles/", "resources/", "audit/"])
def test_malformed_page_parameters_are_400_naming_them(api, path, params, field):
    """Found by schemathesis: `page_size=0.5` was silently ignored and `page=abc` was a 404."""
    response = api("erin").get(url(path), params)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert "whole number from 1" in response.json()["errors"][field][0]


def test_a_page_past_the_last_is_404_and_last_is_the_last(api, pending, approved):
    client = api("erin")
    past = client.get(url("requests/"), {"page": "3", "page_size": "1"})
    assert past.status_code == 404
    assert past.json()["detail"].startswith("no such page")
    # An integer from 1, as the schema allows, however long (more digits than int() reads).
    for page in ("2302455743277", "9" * 5000):
        huge = client.get(url("requests/"), {"page": page})
        assert huge.status_code == 404 and huge.json()["detail"].startswith("no such page")
    widest = client.get(url("requests/"), {"page_size": "9" * 5000})
    assert widest.status_code == 200 and widest.json()["count"] == 2
    last = client.get(url("requests/"), {"page": "last", "page_size": "1"})
    assert last.status_code == 200 and last.json()["previous"] and not last.json()["next"]


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["nothing-here/", "requests/x/y/z/", "requests/a.b/../"])
def test_unknown_api_paths_get_a_json_404(api, method, path):
    """Found by schemathesis: an id with a dot, or any unknown path, got Django's HTML page."""
    response = getattr(api("alice"), method)(url(path))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"] == "no such API endpoint: see /api/docs/"


@pytest.mark.parametrize(
    ("since", "status"),
    [
        ("3051-03-07T18:02:48.180600+16:40", 200),  # PostgreSQL allows at most ±15:59
        ("1225-03-30T15:00:29-23:06", 200),
        ("2026-01-01T00:00:00+00:00", 200),
        ("0001-01-01T00:00:00+10:00", 400),  # before year 1 in UTC
    ],
)
def test_audit_since_takes_any_offset_and_compares_in_utc(api, pending, since, status):
    """Found by schemathesis on PostgreSQL: an offset beyond ±15:59 made the query fail."""
    response = api("erin").get(url("audit/"), {"since": since})
    assert response.status_code == status, response.content
    if status == 200:
        assert (response.json()["count"] == 0) == since.startswith("3051")
    else:
        assert response.json()["field"] == "since"


# --- No laxer than the schema (issue 18): what the schema forbids, the server refuses ------


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        ({**GOOD, "dry_run": "true"}, "dry_run", "JSON true or false"),
        ({**GOOD, "dry_run": 1}, "dry_run", "JSON true or false"),
        ({**GOOD, "dry_run": "false"}, "dry_run", "JSON true or false"),
        ({**GOOD, "max_duration": "٣h"}, "max_duration", "not a duration"),  # Arabic-Indic 3
        ({**GOOD, "max_duration": "١٢٠"}, "max_duration", "not a duration"),
        ({**GOOD, "max_duration": "1h 30m"}, "max_duration", "without spaces"),
        ({**GOOD, "max_duration": " 4h"}, "max_duration", "without spaces"),
        ({**GOOD, "max_duration": "4h\n"}, "max_duration", "without spaces"),
        ({**GOOD, "max_duration": 3600.0}, "max_duration", "not a duration"),
        ({**GOOD, "max_duration": "0h"}, "max_duration", "must be positive"),
        ({**GOOD, "request_ttl": "2 h"}, "request_ttl", "without spaces"),
        ({**GOOD, "assume_start_time": "2030-01-01 10:00:00Z"}, "assume_start_time", "format"),
        ({**GOOD, "assume_start_time": "2030-01-01T10:00Z"}, "assume_start_time", "format"),
        ({**GOOD, "assume_start_time": "2030-01-01"}, "assume_start_time", "offset"),
        ({**GOOD, "assume_start_time": "٢٠٣٠-01-01T10:00:00Z"}, "assume_start_time", "format"),
    ],
)
def test_body_values_the_schema_forbids_are_400(api, unchanged, body, field, expected):
    response = api("alice").post(url("requests/"), body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert errors["field"] == field
    assert expected in message_of(errors)


def test_the_durations_the_schema_allows_are_accepted(api):
    client = api("alice")
    for asked, seconds in [("90M", 5400), ("1h30m", 5400), (7200, 7200), ("0h1m", 60)]:
        body = {**GOOD, "max_duration": asked, "dry_run": True}
        response = client.post(url("requests/"), body, format="json")
        assert response.status_code == 200, (asked, response.content)
        assert response.json()["requested_duration"] == seconds


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("requests/", "user"),
        ("requests/", "scope"),
        ("requests/", "state"),
        ("grants/", "request"),
        ("grants/", "active"),
        ("grants/", "user"),
        ("roles/", "requestable"),
        ("roles/", "search"),
        ("resources/", "kind"),
        ("resources/", "label"),
        ("resources/", "search"),
        ("audit/", "since"),
        ("audit/", "action"),
        ("audit/", "actor"),
        ("audit/", "target_id"),
        ("audit/", "ordering"),
        ("access/check/", "role"),
    ],
)
def test_an_empty_query_parameter_is_400_naming_it(api, path, name):
    """Found by schemathesis: `?request=` was read as "no filter" and answered everything."""
    response = api("erin").get(url(path), {name: ""})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == name


def test_an_empty_label_among_others_is_400(api):
    response = api("alice").get(url("resources/"), {"label": ["env=prod", ""]})
    assert response.status_code == 400
    assert response.json()["field"] == "label"
    assert "must not be empty" in response.json()["errors"]["label"][0]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("audit/", {"since": "2026-11-29"}, "since"),  # was read as UTC midnight
        ("audit/", {"since": "2026-11-29T10:00:00"}, "since"),
        ("audit/", {"ordering": "-hash"}, "ordering"),
        ("audit/", {"ordering": "seq,-seq"}, "ordering"),
        ("audit/", {"ordering": " seq"}, "ordering"),
        ("grants/", {"active": "1"}, "active"),
        ("grants/", {"active": "yes"}, "active"),
        ("grants/", {"active": "True"}, "active"),
        ("roles/", {"requestable": "on"}, "requestable"),
        ("requests/", {"page": " 1"}, "page"),
        ("requests/", {"page_size": "5 "}, "page_size"),
        ("resources/", {"search": "x" * 321}, "search"),
    ],
)
def test_query_values_the_schema_forbids_are_400_naming_them(api, path, params, name):
    response = api("erin").get(url(path), params)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == name
    assert response.json()["errors"][name]


def test_times_in_queries_need_an_offset_and_any_offset_works(api, pending):
    client = api("erin")
    naive = client.get(url("audit/"), {"since": "2026-11-29"})
    assert naive.status_code == 400 and naive.json()["field"] == "since"
    assert "time zone offset" in naive.json()["errors"]["since"][0]
    zulu = client.get(url("audit/"), {"since": "2000-01-01T00:00:00z"})
    assert zulu.status_code == 200 and zulu.json()["count"] > 0


def test_an_ordering_the_schema_lists_is_honoured(api, pending, approved):
    client = api("erin")
    oldest = client.get(url("audit/"), {"ordering": "seq"}).json()["results"]
    newest = client.get(url("audit/"), {"ordering": "-seq"}).json()["results"]
    assert [e["seq"] for e in oldest] == sorted(e["seq"] for e in oldest)
    assert [e["seq"] for e in newest] == [e["seq"] for e in reversed(oldest)]


def test_access_check_with_no_access_answers_via_null(api):
    response = api("alice").get(url("access/check/"), {"role": "db-admin"})
    assert response.status_code == 200
    assert response.json()["allowed"] is False and response.json()["via"] is None
