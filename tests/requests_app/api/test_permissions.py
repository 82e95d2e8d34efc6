"""Permission matrix, generated: every endpoint × every persona → expected status.

Personas: anonymous, mallory (outsider), alice (requester), bob (eligible reviewer),
erin (auditor), sam (may resolve and revoke, reads all), ivy (may check anyone's access),
root (superuser). A request someone may not see answers 404, never 403.
"""

from __future__ import annotations

import uuid

import pytest

from tests.requests_app.api.conftest import url

PERSONAS = ["anonymous", "mallory", "alice", "bob", "erin", "sam", "ivy", "root"]


def row(default: int, **overrides: int) -> dict[str, int]:
    """Expected status per persona; anonymous is always 401."""
    return {"anonymous": 401, **{p: default for p in PERSONAS[1:]}, **overrides}


# (name, method, path with {pending}/{approved}, body, statuses by persona)
MATRIX = [
    ("me", "get", "me/", None, row(200)),
    ("roles", "get", "roles/", None, row(200)),
    ("resources", "get", "resources/", None, row(200)),
    ("create", "post", "requests/", {"roles": ["db-admin"], "reason": "x"}, row(403, alice=201)),
    ("list", "get", "requests/", None, row(200)),
    ("detail", "get", "requests/{pending}/", None, row(200, mallory=404, ivy=404)),
    ("detail-unknown", "get", f"requests/{uuid.uuid4()}/", None, row(404)),
    (
        "review",
        "post",
        "requests/{pending}/reviews/",
        {"state": "APPROVED"},
        row(403, mallory=404, ivy=404, bob=201),
    ),
    (
        "withdraw",
        "post",
        "requests/{pending}/withdraw/",
        {},
        row(403, mallory=404, ivy=404, alice=200),
    ),
    (
        "approve",
        "post",
        "requests/{pending}/approve/",
        {"reason": "x"},
        row(403, mallory=404, ivy=404, sam=200, root=200),
    ),
    (
        "deny",
        "post",
        "requests/{pending}/deny/",
        {"reason": "x"},
        row(403, mallory=404, ivy=404, sam=200, root=200),
    ),
    (
        "revoke",
        "post",
        "requests/{approved}/revoke/",
        {"reason": "x"},
        row(200, mallory=404, ivy=404, erin=403),
    ),
    ("grants", "get", "grants/", None, row(200)),
    ("check-self", "get", "access/check/?role=db-admin", None, row(200)),
    (
        "check-other",
        "get",
        "access/check/?user=alice&role=db-admin",
        None,
        row(403, alice=200, ivy=200, root=200),
    ),
    ("audit", "get", "audit/", None, row(403, erin=200, root=200)),
]

CASES = [
    pytest.param(method, path, body, persona, statuses[persona], id=f"{name}-{persona}")
    for name, method, path, body, statuses in MATRIX
    for persona in PERSONAS
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "expected"), CASES)
def test_endpoint_status_by_persona(
    api, admin, pending, approved, method, path, body, persona, expected
):
    client = api(None if persona == "anonymous" else persona)
    target = url(path.format(pending=pending.id, approved=approved.id))
    response = getattr(client, method)(target, body, format="json")
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["detail"], "every refusal says why"


# How many requests and grants each persona sees: alice's two requests, one approved.
VISIBLE = {
    "mallory": (0, 0),
    "alice": (2, 1),
    "bob": (2, 1),
    "erin": (2, 1),
    "sam": (2, 1),
    "ivy": (0, 0),
    "root": (2, 1),
}


@pytest.mark.parametrize(("persona", "counts"), VISIBLE.items())
def test_lists_show_only_what_the_persona_may_see(api, admin, pending, approved, persona, counts):
    client = api(persona)
    requests = client.get(url("requests/")).json()["count"]
    grants = client.get(url("grants/")).json()["count"]
    assert (requests, grants) == counts


def test_outsider_gets_404_for_every_action_on_a_request_they_cannot_see(api, pending):
    client = api("mallory")
    for action, body in [
        ("", None),
        ("reviews/", {"state": "DENIED"}),
        ("withdraw/", {}),
        ("approve/", {"reason": "x"}),
        ("deny/", {"reason": "x"}),
        ("revoke/", {"reason": "x"}),
    ]:
        method = client.get if not action else client.post
        response = method(url(f"requests/{pending.id}/{action}"), body, format="json")
        assert response.status_code == 404, action
        assert response.json()["detail"] == "no such access request"
    pending.refresh_from_db()
    assert pending.state == "PENDING" and not pending.reviews.exists()
