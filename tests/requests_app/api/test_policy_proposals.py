"""`/api/v1/policy-proposals/`: a GitOps pipeline proposes, another person approves; every
endpoint × persona (generated matrix), the diff in the answer, stale and bad input."""

from __future__ import annotations

import pytest

from policies_app.loader import plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.services.proposals import policy_proposal_create
from tests.requests_app.api.conftest import url

PEOPLE = """
kind: role
name: policy-author
spec:
  allow:
    permissions: [policies_app.add_policyproposal]
---
kind: role
name: policy-approver
spec:
  allow:
    permissions: [policies_app.approve_policyproposal]
---
kind: user
name: dana
roles: [policy-author, policy-approver]
---
kind: user
name: erik
roles: [policy-approver]
---
kind: user
name: pat
roles: [policy-author]
---
kind: role
name: ops
spec:
  allow:
    request: {roles: [db-admin], max_duration: 3d}
"""
OPS_5D = (
    "kind: role\nname: ops\nspec:\n  allow:\n    request: {roles: [db-admin], max_duration: 5d}\n"
)

PERSONAS = ["anonymous", "alice", "pat", "dana", "erik", "root"]


def row(default: int, **by_persona: int) -> dict[str, int]:
    return {p: by_persona.get(p, default) for p in PERSONAS}


UNSEEN = {"alice": 404, "pat": 404, "anonymous": 401}
MATRIX = [
    ("list", "get", "policy-proposals/", None, row(200, anonymous=401)),
    (
        "propose",
        "post",
        "policy-proposals/",
        {"yaml": OPS_5D.replace("5d", "6d")},
        row(201, anonymous=401, alice=403, erik=403),
    ),
    ("detail", "get", "policy-proposals/{id}/", None, row(200, **UNSEEN)),
    # root: a superuser without the approve permission from a standing role (M1).
    (
        "approve",
        "post",
        "policy-proposals/{id}/approve/",
        {},
        row(200, **UNSEEN, dana=403, root=403),
    ),
    (
        "reject",
        "post",
        "policy-proposals/{id}/reject/",
        {"reason": "no"},
        row(200, **UNSEEN, dana=403, root=403),
    ),
    ("withdraw", "post", "policy-proposals/{id}/withdraw/", {}, row(403, **UNSEEN, dana=200)),
]
CASES = [
    pytest.param(method, path, body, persona, statuses[persona], id=f"{name}-{persona}")
    for name, method, path, body, statuses in MATRIX
    for persona in PERSONAS
]


@pytest.fixture
def proposal(api_policy, apply_yaml, user):
    """dana's pending proposal: ops may request for 5 days, not 3."""
    apply_yaml(PEOPLE)
    plan = plan_from_texts([("t.yaml", OPS_5D)])
    return policy_proposal_create(plan=plan, proposer=user("dana"), source="api")


def max_duration() -> int:
    return Role.objects.get(name="ops").spec["allow"]["request"]["max_duration"]


@pytest.mark.parametrize(("method", "path", "body", "persona", "expected"), CASES)
def test_endpoint_status_by_persona(api, admin, proposal, method, path, body, persona, expected):
    client = api(None if persona == "anonymous" else persona)
    response = getattr(client, method)(url(path.format(id=proposal.pk)), body, format="json")
    assert response.status_code == expected, response.content
    if expected >= 400:
        assert response.json()["detail"], "every refusal says why"
    applied = "approve" in path and expected == 200
    assert max_duration() == (5 if applied else 3) * 86400


def test_pipeline_proposes_and_another_person_approves(api, proposal, user):
    response = api("pat").post(
        url("policy-proposals/"),
        {"yaml": OPS_5D.replace("5d", "7d"), "summary": "CHG-9"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "PENDING"
    assert body["proposed_by"] == "pat"
    assert [c["line"] for c in body["diff"]] == [
        "role ops: spec.allow.request.max_duration: 3d → 7d"
    ]
    assert max_duration() == 3 * 86400
    response = api("pat").post(url(f"policy-proposals/{body['id']}/approve/"), {}, format="json")
    assert response.status_code == 403  # their own proposal
    assert response.json()["code"] == "self_approval"
    answer = api("erik").post(url(f"policy-proposals/{body['id']}/approve/"), {}, format="json")
    assert answer.status_code == 200, answer.content
    assert (answer.json()["state"], answer.json()["decided_by"]) == ("APPLIED", "erik")
    assert max_duration() == 7 * 86400


def test_documents_as_json_are_accepted(api, proposal):
    doc = {"kind": "role", "name": "ops", "spec": {"allow": {"request": {"max_duration": "1d"}}}}
    response = api("pat").post(url("policy-proposals/"), {"documents": [doc]}, format="json")
    assert response.status_code == 201, response.content
    lines = [c["line"] for c in response.json()["diff"]]
    assert "role ops: spec.allow.request.max_duration: 3d → 1d" in lines
    assert 'role ops: spec.allow.request.roles: - ["db-admin"]' in lines  # the whole field


def test_stale_proposal_answers_409_and_applies_nothing(api, proposal, apply_yaml):
    apply_yaml(OPS_5D.replace("5d", "4d"))
    response = api("erik").post(url(f"policy-proposals/{proposal.pk}/approve/"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "proposal_stale"
    assert max_duration() == 4 * 86400
    proposal.refresh_from_db()
    assert proposal.state == PolicyProposal.State.STALE


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"yaml": "kind: role\nname: ops\nspec: {allow: {request: {max_duration: 99d}}}"},
            400,
            None,
        ),
        ({"yaml": "{{{"}, 400, None),
        ({}, 400, None),
        ({"yaml": OPS_5D, "documents": []}, 400, None),
        ({"yaml": OPS_5D}, 422, "unprocessable"),  # changes nothing: dana proposed it, 5d
    ],
)
def test_bad_proposals_are_refused_with_a_message(api, proposal, apply_yaml, body, status, code):
    if status == 422:
        apply_yaml(OPS_5D)
    response = api("pat").post(url("policy-proposals/"), body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["detail"]
    if code:
        assert response.json()["code"] == code
    assert PolicyProposal.objects.count() == 1


def test_reject_without_reason_is_422(api, proposal):
    response = api("erik").post(url(f"policy-proposals/{proposal.pk}/reject/"), {}, format="json")
    assert response.status_code == 422
    assert response.json()["code"] == "reason_required"


def test_the_list_costs_the_same_queries_for_one_or_many(
    api, proposal, user, django_assert_max_num_queries
):
    for days in range(6, 26):
        plan = plan_from_texts([("t.yaml", OPS_5D.replace("5d", f"{days}h"))])
        policy_proposal_create(plan=plan, proposer=user("pat"), source="api")
    client = api("erik")
    with django_assert_max_num_queries(8):
        response = client.get(url("policy-proposals/"))
    assert response.json()["count"] == 21
