"""Permission matrix, generated: every endpoint × every persona → expected status.

Personas: anonymous, mallory (outsider), alice (requester), bob (eligible reviewer),
oscar (a reviewer outside scope: he reviews dev-admin, the fixtures ask for db-admin),
erin (auditor), sam (may resolve and revoke, reads all), ivy (may check anyone's access),
root (superuser). A request someone may not see answers 404, never 403, and nothing about
it (id, reason, reviews, grants) appears in any answer they get.
"""

from __future__ import annotations

import uuid

import pytest

from requests_app.models import AccessRequest, Grant
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from requests_app.tasks import dispatch_audit_anchor
from tests.requests_app.api.conftest import url

PERSONAS = ["anonymous", "mallory", "alice", "bob", "oscar", "erin", "sam", "ivy", "root"]

# Who cannot see alice's db-admin requests: no role that reviews db-admin, no read-all.
UNSEEN = {"mallory": 404, "oscar": 404, "ivy": 404}


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
    ("detail", "get", "requests/{pending}/", None, row(200, **UNSEEN)),
    ("detail-unknown", "get", f"requests/{uuid.uuid4()}/", None, row(404)),
    (
        "review",
        "post",
        "requests/{pending}/reviews/",
        {"state": "APPROVED"},
        row(403, **UNSEEN, bob=201),
    ),
    ("withdraw", "post", "requests/{pending}/withdraw/", {}, row(403, **UNSEEN, alice=200)),
    (
        "approve",
        "post",
        "requests/{pending}/approve/",
        {"reason": "x"},
        row(403, **UNSEEN, sam=200, root=200),
    ),
    (
        "deny",
        "post",
        "requests/{pending}/deny/",
        {"reason": "x"},
        row(403, **UNSEEN, sam=200, root=200),
    ),
    (
        "revoke",
        "post",
        "requests/{approved}/revoke/",
        {"reason": "x"},
        row(200, **UNSEEN, erin=403),
    ),
    (
        "extend",
        "post",
        "requests/{approved}/extend/",
        {"reason": "x"},
        row(403, **UNSEEN, alice=201),
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
    (
        "evidence",
        "get",
        "requests/{approved}/evidence/",
        None,
        row(403, **UNSEEN, erin=200, root=200),
    ),
    ("requests-export", "get", "requests/export/", None, row(200)),  # what each may see
    ("audit-export", "get", "audit/export/", None, row(403, erin=200, root=200)),
    ("credentials", "post", "credentials/", {}, row(201)),
]

CASES = [
    pytest.param(method, path, body, persona, statuses[persona], id=f"{name}-{persona}")
    for name, method, path, body, statuses in MATRIX
    for persona in PERSONAS
]


@pytest.mark.parametrize(("method", "path", "body", "persona", "expected"), CASES)
def test_endpoint_status_by_persona(
    api, admin, pending, approved, method, path, body, persona, expected, settings, tmp_path
):
    settings.AUDIT_ANCHOR_KEY = "matrix-anchor-key-0123456789abcdef0123"  # evidence bundles
    settings.AUDIT_ANCHOR_FILE = str(tmp_path / "anchors.jsonl")
    settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    if path.endswith("/evidence/"):
        dispatch_audit_anchor()  # the worker's anchor: the web never signs one
    client = api(None if persona == "anonymous" else persona)
    target = url(path.format(pending=pending.id, approved=approved.id))
    response = getattr(client, method)(target, body, format="json")
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["detail"], "every refusal says why"


# -- who sees what -------------------------------------------------------------------------

# Four requests: alice's pending and approved db-admin requests (the fixtures), alice's
# pending dev-admin request (oscar's scope), and dave's dev-admin request, approved by carol
# with a review reason (another requester's: alice must not see it).
EVERYTHING = {"pending", "approved", "dev", "daves"}
SEES = {
    "mallory": set(),
    "ivy": set(),
    "alice": {"pending", "approved", "dev"},
    "oscar": {"dev", "daves"},
    "bob": EVERYTHING,
    "erin": EVERYTHING,
    "sam": EVERYTHING,
    "root": EVERYTHING,
}
# Secrets that must appear only in answers to someone who may see their request.
SECRETS = {
    "pending": ["INC-1"],
    "approved": ["INC-2"],
    "dev": ["INC-3: dev box migration"],
    "daves": ["INC-4: dave's private reason", "carol's note on dave's request"],
}


@pytest.fixture
def world(api_policy, apply_yaml, admin, pending, approved, requester, user):
    """The four requests by key; dave's is approved, so it has a grant alice must not see."""
    apply_yaml("kind: user\nname: dave\nroles: [engineer]\n")
    dev = access_request_create(requester=requester, roles=["dev-admin"], reason=SECRETS["dev"][0])
    daves = access_request_create(
        requester=user("dave"), roles=["dev-admin"], reason=SECRETS["daves"][0]
    )
    daves = review_submit(
        request_id=daves.id,
        reviewer=user("carol"),
        state="APPROVED",
        reason=SECRETS["daves"][1],
    )
    return {"pending": pending, "approved": approved, "dev": dev, "daves": daves}


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


@pytest.mark.parametrize(("persona", "sees"), SEES.items())
def test_request_lists_show_exactly_what_the_persona_may_see(api, world, persona, sees):
    client = api(persona)
    visible = {str(world[key].id) for key in sees}
    assert ids(client.get(url("requests/"))) == visible
    mine = {str(r.id) for r in world.values() if r.user.username == persona}
    assert ids(client.get(url("requests/"), {"scope": "mine"})) == mine
    for query in [
        {"scope": "needs_review"},
        {"scope": "reviewed"},
        {"user": "alice"},
        {"user": "dave"},
        {"state": "PENDING"},
        {"state": "APPROVED"},
    ]:
        assert ids(client.get(url("requests/"), query)) <= visible, query


@pytest.mark.parametrize(("persona", "sees"), SEES.items())
def test_grant_lists_show_only_grants_of_visible_requests(api, world, persona, sees):
    client = api(persona)
    expected = {g.pk for g in Grant.objects.filter(request__in=[world[key] for key in sees])}
    for query in [{}, {"active": "true"}, {"user": "alice"}, {"user": "dave"}]:
        results = client.get(url("grants/"), query).json()["results"]
        assert {g["id"] for g in results} <= expected, query
        if not query:
            assert {g["id"] for g in results} == expected
    for key in EVERYTHING - sees:
        assert client.get(url("grants/"), {"request": str(world[key].id)}).json()["count"] == 0
    own = client.get(url("me/")).json()["active_grants"]
    assert {g["user"] for g in own} <= {persona}


@pytest.mark.parametrize(("persona", "sees"), SEES.items())
def test_details_of_unseen_requests_answer_like_unknown_ids(api, world, persona, sees):
    client = api(persona)
    unknown = client.get(url(f"requests/{uuid.uuid4()}/"))
    assert unknown.status_code == 404
    for key, request in world.items():
        response = client.get(url(f"requests/{request.id}/"))
        if key in sees:
            assert response.status_code == 200
            assert response.json()["reason"] == SECRETS[key][0]
        else:
            assert (response.status_code, response.json()) == (404, unknown.json()), key


def _every_read(world: dict) -> list[str]:
    """Every GET a persona could try, including filters naming the others' requests."""
    paths = [
        "me/",
        "roles/",
        "resources/",
        "requests/?page_size=200",
        "requests/?scope=mine",
        "requests/?scope=needs_review",
        "requests/?scope=reviewed",
        "requests/?user=alice",
        "requests/?user=dave",
        "grants/",
        "grants/?user=dave",
        "access/check/?role=dev-admin",
        "access/check/?user=dave&role=dev-admin",
        "audit/?page_size=200",
        "requests/export/",
        "audit/export/",
    ]
    for request in world.values():
        paths += [f"requests/{request.id}/", f"grants/?request={request.id}"]
    return [url(path) for path in paths]


def _body(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


@pytest.mark.parametrize(("persona", "sees"), SEES.items())
def test_no_answer_mentions_a_request_the_persona_may_not_see(api, world, persona, sees):
    """Ids, reasons and review reasons of unseen requests appear in no answer, whatever the
    endpoint, filter or status (auditors and superusers see everything, audit log included)."""
    client = api(persona)
    answers = "\n".join(_body(client.get(path)) for path in _every_read(world))
    for key in EVERYTHING - sees:
        for secret in [str(world[key].id), *SECRETS[key]]:
            assert secret not in answers, (key, secret)
    for key in sees:  # the scan itself would find them
        assert str(world[key].id) in answers and SECRETS[key][0] in answers


UNSEEN_PAIRS = [(persona, key) for persona, sees in SEES.items() for key in EVERYTHING - sees]
WRITES = [
    ("reviews/", {"state": "APPROVED"}),
    ("reviews/", {"state": "DENIED"}),
    ("withdraw/", {}),
    ("approve/", {"reason": "x"}),
    ("deny/", {"reason": "x"}),
    ("revoke/", {"reason": "x"}),
    ("extend/", {"reason": "x"}),
]


@pytest.mark.parametrize(
    ("persona", "key"), UNSEEN_PAIRS, ids=[f"{p}-{k}" for p, k in UNSEEN_PAIRS]
)
def test_every_action_on_an_unseen_request_is_404_and_changes_nothing(api, world, persona, key):
    client = api(persona)
    request = world[key]
    before = (request.state, request.reviews.count(), AccessRequest.objects.count())
    for action, body in WRITES:
        response = client.post(url(f"requests/{request.id}/{action}"), body, format="json")
        assert response.status_code == 404, (action, response.content)
        assert response.json() == {"detail": "no such access request", "code": "not_found"}
    request.refresh_from_db()
    assert (request.state, request.reviews.count(), AccessRequest.objects.count()) == before


def test_reviewer_outside_scope_reviews_only_what_his_roles_allow(api, world, requester):
    """oscar reviews dev-admin: he sees and may review alice's dev-admin request, but not
    her db-admin requests, nor one asking for dev-admin and db-admin together."""
    oscar = api("oscar")
    both = access_request_create(requester=requester, roles=["dev-admin", "db-admin"], reason="y")
    queue = ids(oscar.get(url("requests/"), {"scope": "needs_review"}))
    assert queue == {str(world["dev"].id)}
    assert oscar.get(url(f"requests/{both.id}/")).status_code == 404
    refused = oscar.post(url(f"requests/{both.id}/reviews/"), {"state": "DENIED"}, format="json")
    assert refused.status_code == 404
    reviewed = oscar.post(
        url(f"requests/{world['dev'].id}/reviews/"), {"state": "APPROVED"}, format="json"
    )
    assert reviewed.status_code == 201 and reviewed.json()["state"] == "APPROVED"
    assert (
        oscar.get(url("access/check/"), {"user": "alice", "role": "dev-admin"}).status_code == 403
    )
