"""Calling /scim/v2/ over real HTTP (pytest-django's live_server and `requests`), as an
identity provider does: a bearer token per provider, SCIM JSON bodies."""

from __future__ import annotations

import threading

import pytest
import requests
from rest_framework.authtoken.models import Token

from policies_app.services.directory_tokens import directory_token_mint

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# The personas' base policy (tests/conftest.py) plus two providers' mappings and an
# integration account that may ask about anyone's access.
POLICY = """
kind: sso_mapping
name: okta
spec:
  claims_to_roles:
    - {claim: groups, value: "eng-*", roles: [engineer]}
    - {claim: groups, value: "00g-dba", roles: [reviewer]}
---
kind: sso_mapping
name: entra
spec:
  claims_to_roles:
    - {claim: groups, value: "Access Reviewers", roles: [reviewer]}
    - {claim: groups, value: "Engineers", roles: [engineer]}
---
kind: role
name: gatekeeper
spec:
  allow:
    permissions: [requests_app.check_access]
---
kind: user
name: gate
roles: [gatekeeper]
"""


# Sessions of the running test: closed at its end, so that no kept-alive connection holds a
# server thread (and its database connection) past the test.
_OPEN: list[requests.Session] = []


def _session() -> requests.Session:
    _OPEN.append(requests.Session())
    return _OPEN[-1]


class SCIMClient:
    """A provider's view of /scim/v2/: scim.get("Users", params=...), scim.patch(...)."""

    def __init__(self, base: str, token: str | None) -> None:
        self.base = base.rstrip("/") + "/scim/v2/"
        self.http = _session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.headers["Content-Type"] = "application/scim+json"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.base + path, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body, **kw):
        return self.call("POST", path, json=body, **kw)

    def put(self, path, body, **kw):
        return self.call("PUT", path, json=body, **kw)

    def patch(self, path, *operations, **kw):
        return self.call("PATCH", path, json={"schemas": [PATCH], "Operations": list(operations)})

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


class API:
    """The portal's REST API with one user's token."""

    def __init__(self, base: str, user) -> None:
        token, _ = Token.objects.get_or_create(user=user)
        self.http = _session()
        self.http.headers["Authorization"] = f"Token {token.key}"
        self.base = base.rstrip("/") + "/api/v1/"

    def get(self, path: str, **params) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)


@pytest.fixture
def server(transactional_db, live_server, apply_yaml, base_policy):
    """The live server with the personas and both providers' mappings; waits for the
    server's request threads before the database is closed again."""
    apply_yaml(POLICY)
    yield live_server.url
    while _OPEN:
        _OPEN.pop().close()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and "process_request_thread" in thread.name:
            thread.join(timeout=10)


@pytest.fixture
def okta(server) -> SCIMClient:
    return SCIMClient(server, directory_token_mint(provider="okta", actor="test"))


@pytest.fixture
def entra(server) -> SCIMClient:
    return SCIMClient(server, directory_token_mint(provider="entra", actor="test"))


def okta_user(username: str, given="Dan", family="Brown", external_id="00u1") -> dict:
    """The body Okta POSTs to create a user (developer.okta.com, SCIM 2.0 reference)."""
    return {
        "schemas": [USER],
        "userName": username,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": username, "type": "work"}],
        "displayName": f"{given} {family}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def entra_user(username: str, external_id: str) -> dict:
    """The body Entra ID POSTs (learn.microsoft.com, "Develop a SCIM endpoint")."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": external_id,
        "userName": username,
        "active": True,
        "addresses": [{"primary": True, "type": "work", "country": "NL"}],
        "displayName": "Eve Entra",
        "emails": [{"primary": True, "type": "work", "value": username}],
        "meta": {"resourceType": "User"},
        "name": {"familyName": "Entra", "givenName": "Eve"},
        "title": "Engineer",
        ENTERPRISE: {"department": "Platform", "employeeNumber": "42"},
    }
