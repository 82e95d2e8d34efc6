"""API personas: each test client carries a real DRF token (`Authorization: Token ...`).

On top of the suite's base policy: sam, a security officer who may approve/deny directly,
revoke any access and read every request; ivy, an integration account that may check
anyone's access; oscar, a reviewer outside the fixtures' scope (he may review dev-admin
requests only, while the `pending` and `approved` fixtures ask for db-admin).
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

API_POLICY = """
kind: role
name: security
spec:
  allow:
    permissions:
      - requests_app.resolve_accessrequest
      - requests_app.revoke_grant
      - requests_app.view_accessrequest
---
kind: role
name: integration
spec:
  allow:
    permissions: [requests_app.check_access]
---
kind: role
name: dev-reviewer
spec:
  allow:
    review_requests: {roles: [dev-admin]}
---
kind: user
name: sam
roles: [security]
---
kind: user
name: ivy
roles: [integration]
---
kind: user
name: oscar
roles: [dev-reviewer]
"""


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The superuser persona's password would cost half a second per test with PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_policy(base_policy, apply_yaml):
    apply_yaml(API_POLICY)


@pytest.fixture
def api(api_policy, user):
    """api("alice") -> an APIClient authenticated with alice's token; api(None) -> anonymous."""

    def _client(name: str | None) -> APIClient:
        client = APIClient()
        if name is not None:
            token, _ = Token.objects.get_or_create(user=user(name))
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client


@pytest.fixture
def pending(api_policy, requester):
    """alice's pending request for db-admin (bob and carol may review it)."""
    return access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")


@pytest.fixture
def approved(api_policy, requester, reviewer):
    """alice's request for db-admin, approved by bob: her access is active."""
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-2")
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


def url(path: str) -> str:
    return f"/api/v1/{path}"
