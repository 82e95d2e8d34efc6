"""Bad input to /scim/v2/ gets a SCIM error with a clear status, never a 500, and writes
nothing (ARCHITECTURE invariant 9): a table of what providers, or mistakes, may send."""

from __future__ import annotations

import json

import pytest

from accessportal.kernel.models import AuditEvent
from tests.identity.scim_support import ERROR, GROUP, PATCH, USER, SCIMClient, okta_user


def _patch(*ops, schemas=(PATCH,)) -> dict:
    return {"json": {"schemas": list(schemas), "Operations": list(ops)}}


def _user(**changes) -> dict:
    return {"json": {**okta_user("new@example.com", external_id="00u9"), **changes}}


def _group(**changes) -> dict:
    return {"json": {"schemas": [GROUP], "displayName": "eng-new", **changes}}


def _filter(text: str) -> dict:
    return {"params": {"filter": text}}


# (case, method, path, request kwargs, status, scimType or None)
CASES = [
    ("no token", "GET", "Users", {"headers": {"Authorization": ""}}, 401, None),
    ("wrong token", "GET", "Users", {"headers": {"Authorization": "Bearer nope"}}, 401, None),
    ("basic auth", "GET", "Users", {"headers": {"Authorization": "Basic b2t0YTpw"}}, 401, None),
    ("unknown schema", "POST", "Users", _user(schemas=["urn:example:User"]), 400, "invalidSyntax"),
    ("group schema on a user", "POST", "Users", _user(schemas=[GROUP]), 400, "invalidSyntax"),
    ("no schemas", "POST", "Users", _user(schemas=None), 400, "invalidSyntax"),
    ("list body", "POST", "Users", {"json": [okta_user("x@example.com")]}, 400, "invalidSyntax"),
    ("null body", "PUT", "Users/{uid}", {"data": "null"}, 400, "invalidSyntax"),
    ("not JSON", "POST", "Groups", {"data": "displayName=eng"}, 400, "invalidSyntax"),
    ("string body", "PATCH", "Users/{uid}", {"data": json.dumps("x")}, 400, "invalidSyntax"),
    ("malformed filter", "GET", "Users", _filter('userName eq'), 400, "invalidFilter"),
    ("dangling and", "GET", "Users", _filter('userName eq "a" and'), 400, "invalidFilter"),
    ("unbalanced", "GET", "Groups", _filter('(displayName eq "a"'), 400, "invalidFilter"),
    ("unknown operator", "GET", "Users", _filter('userName xx "a"'), 400, "invalidFilter"),
    ("unknown attribute", "GET", "Users", _filter('title eq "CTO"'), 400, "invalidFilter"),
    ("unknown group attr", "GET", "Groups", _filter('owner eq "x"'), 400, "invalidFilter"),
    ("bad startIndex", "GET", "Users", {"params": {"startIndex": "0"}}, 400, None),
    ("bad count", "GET", "Users", {"params": {"count": "many"}}, 400, None),
    ("unknown user path", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "path": "shoeSize", "value": 9}), 400, "noTarget"),
    ("unknown group path", "PATCH", "Groups/{gid}",
     _patch({"op": "add", "path": "owners", "value": [{"value": "1"}]}), 400, "noTarget"),
    ("add to a member filter", "PATCH", "Groups/{gid}",
     _patch({"op": "add", "path": 'members[value eq "{uid}"]'}), 400, "noTarget"),
    ("unknown op", "PATCH", "Users/{uid}",
     _patch({"op": "move", "path": "active", "value": False}), 400, "invalidSyntax"),
    ("no op list", "PATCH", "Users/{uid}", _patch(), 400, "invalidSyntax"),
    ("PATCH with a user schema", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "path": "active", "value": False}, schemas=[USER]),
     400, "invalidSyntax"),
    ("op not an object", "PATCH", "Users/{uid}", {"json": {"schemas": [PATCH],
     "Operations": ["replace"]}}, 400, "invalidSyntax"),
    ("pathless non-object", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "value": False}), 400, "noTarget"),
    ("active maybe", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "path": "active", "value": "maybe"}), 400, "invalidValue"),
    ("active maybe on create", "POST", "Users", _user(active="maybe"), 400, "invalidValue"),
    ("duplicate userName", "POST", "Users", _user(userName="dan@example.com"), 409, "uniqueness"),
    ("rename onto a taken userName", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "path": "userName", "value": "alice"}), 409, "uniqueness"),
    ("no userName", "POST", "Users", _user(userName=None), 400, "invalidValue"),
    ("bad userName", "POST", "Users", _user(userName="dan brown"), 400, "invalidValue"),
    ("bad email", "POST", "Users", _user(emails=[{"value": "nope", "primary": True}]),
     400, "invalidValue"),
    ("emails not a list", "POST", "Users", _user(emails="a@b.c"), 400, "invalidValue"),
    ("no displayName", "POST", "Groups", _group(displayName=""), 400, "invalidValue"),
    ("NUL in a group name", "POST", "Groups", _group(displayName="eng\x00x"), 400, "invalidValue"),
    ("NUL in a display name", "POST", "Users", _user(displayName="Dan\x00"), 400, "invalidValue"),
    ("NUL in a given name", "POST", "Users", _user(name={"givenName": "D\x00", "familyName": "B"}),
     400, "invalidValue"),
    ("NUL in an externalId", "POST", "Users", _user(externalId="00u\x00"), 400, "invalidValue"),
    ("NUL in an email", "POST", "Users",
     _user(emails=[{"value": "d\x00@example.com", "primary": True}]), 400, "invalidValue"),
    ("NUL in a renamed group", "PATCH", "Groups/{gid}",
     _patch({"op": "replace", "path": "displayName", "value": "a\x00"}), 400, "invalidValue"),
    ("NUL in a patched name", "PATCH", "Users/{uid}",
     _patch({"op": "replace", "path": "name.givenName", "value": "a\x00"}), 400, "invalidValue"),
    ("unknown member", "POST", "Groups", _group(members=[{"value": "999999"}]),
     400, "invalidValue"),
    ("text member", "PATCH", "Groups/{gid}",
     _patch({"op": "add", "path": "members", "value": [{"value": "abc"}]}), 400, "invalidValue"),
    ("superuser as member", "PATCH", "Groups/{gid}",
     _patch({"op": "add", "path": "members", "value": [{"value": "{root}"}]}),
     400, "invalidValue"),
    ("text user id", "GET", "Users/abc", {}, 404, None),
    ("huge user id", "GET", "Users/99999999999999999999999", {}, 404, None),
    ("unknown group", "GET", "Groups/nope", {}, 404, None),
    ("patch unknown group", "PATCH", "Groups/nope",
     _patch({"op": "replace", "path": "displayName", "value": "x"}), 404, None),
    ("delete unknown user", "DELETE", "Users/999999", {}, 404, None),
    ("search with a user schema", "POST", "Users/.search", {"json": {"schemas": [USER]}},
     400, "invalidSyntax"),
]  # fmt: skip


@pytest.fixture
def targets(okta, admin):
    uid = okta.post("Users", okta_user("dan@example.com")).json()["id"]
    gid = okta.post("Groups", {"schemas": [GROUP], "displayName": "eng-a"}).json()["id"]
    return {"uid": uid, "gid": gid, "root": str(admin.pk)}


def _fill(value, targets):
    if isinstance(value, str):
        for key, text in targets.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, targets) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, targets) for v in value]
    return value


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "scim_type"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_a_scim_error_and_writes_nothing(
    okta: SCIMClient, targets, method, path, kwargs, status, scim_type
):
    events = AuditEvent.objects.count()

    answer = okta.call(method, _fill(path, targets), **_fill(kwargs, targets))

    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["detail"], body
    assert body.get("scimType") == scim_type, body
    assert AuditEvent.objects.count() == events
    if status == 401:
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="scim"'


@pytest.mark.parametrize(
    "text", ['id eq "abc"', 'userName eq "a\x00b"', 'active eq "maybe"', 'id gt "x"']
)
def test_a_filter_value_that_does_not_fit_its_attribute_is_never_a_500(okta, text):
    """PostgreSQL refuses such values in the filter's statement (SQLite finds nothing):
    either way the provider gets an answer, never a server error."""
    answer = okta.get("Users", params={"filter": text})
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["scimType"] == "invalidFilter"
    else:
        assert answer.json()["totalResults"] == 0
