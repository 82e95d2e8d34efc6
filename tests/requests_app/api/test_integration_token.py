"""A compromised integration token (docs/SECURITY.md): ivy's token holds only
`requests_app.check_access`. In an attacker's hands it answers access checks and nothing
more: no request is created, reviewed, resolved, withdrawn or revoked, no audit event or
request is read, and revoking the token in the portal stops it on the very next call.
"""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant, Review
from requests_app.services.tokens import api_token_create
from tests.requests_app.api.conftest import url

WRITES = [
    ("requests/", {"roles": ["db-admin"], "reason": "x"}),
    ("requests/", {"resources": ["node/db-prod-1"], "reason": "x"}),
    ("requests/{pending}/reviews/", {"state": "APPROVED", "reason": "x"}),
    ("requests/{pending}/approve/", {"reason": "x"}),
    ("requests/{pending}/deny/", {"reason": "x"}),
    ("requests/{pending}/withdraw/", {"reason": "x"}),
    ("requests/{approved}/revoke/", {"reason": "x"}),
]


@pytest.fixture
def stolen(api_policy, user):
    """ivy's token, created the way its owner would (the portal's token service)."""
    token = api_token_create(user=user("ivy"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _everything():
    return (
        list(AccessRequest.objects.values_list("id", "state", "updated").order_by("id")),
        Review.objects.count(),
        list(Grant.objects.values_list("id", "revoked_at").order_by("id")),
        AuditEvent.objects.count(),
    )


def test_it_can_check_anyones_access(stolen, approved):
    answer = stolen.get(url("access/check/"), {"user": "alice", "role": "db-admin"})
    assert answer.status_code == 200
    assert answer.json()["allowed"] is True and answer.json()["via"]
    other = stolen.get(url("access/check/"), {"user": "bob", "role": "db-admin"})
    assert other.status_code == 200 and other.json()["allowed"] is False


WRITE_IDS = [f"{path}{i}" for i, (path, _) in enumerate(WRITES)]


@pytest.mark.parametrize(("path", "body"), WRITES, ids=WRITE_IDS)
def test_it_cannot_create_review_resolve_withdraw_or_revoke(stolen, pending, approved, path, body):
    before = _everything()
    target = path.format(pending=pending.id, approved=approved.id)

    answer = stolen.post(url(target), body, format="json")

    # 403 for what it may not do at all; 404 for requests it may not even see.
    assert answer.status_code == (403 if target == "requests/" else 404), answer.content
    assert _everything() == before


def test_it_cannot_read_requests_grants_or_the_audit_log(stolen, pending, approved):
    assert stolen.get(url("requests/")).json()["count"] == 0
    assert stolen.get(url(f"requests/{approved.id}/")).status_code == 404
    assert stolen.get(url("grants/"), {"user": "alice"}).json()["count"] == 0
    audit = stolen.get(url("audit/"))
    assert audit.status_code == 403
    assert "view_auditevent" in audit.json()["detail"]
    assert stolen.get(url("me/")).json()["active_grants"] == []


def test_revoking_it_in_the_portal_stops_it_on_the_next_call(stolen, approved, client, user):
    check = {"user": "alice", "role": "db-admin"}
    assert stolen.get(url("access/check/"), check).status_code == 200
    ivy = user("ivy")
    client.force_login(ivy)  # the owner, in the portal

    assert client.post("/tokens/revoke/").status_code == 302

    refused = stolen.get(url("access/check/"), check)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid token."
    assert not Token.objects.filter(user=ivy).exists()
    revoked = AuditEvent.objects.filter(action="api_token.revoked").get()
    assert revoked.actor == ivy and "key" not in revoked.data
