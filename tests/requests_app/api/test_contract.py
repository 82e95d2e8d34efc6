"""One end-to-end test per row of ARCHITECTURE.md's REST API table, through HTTP with
real tokens. Each checks the fields the contract names and the state change it promises."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant
from tests.requests_app.api.conftest import url

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def parse_time(text: str) -> datetime:
    assert RFC3339_UTC.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_me_shows_roles_grants_requestable_roles_and_reviewer_flag(api, approved):
    alice = api("alice").get(url("me/"))
    assert alice.status_code == 200
    body = alice.json()
    assert body["user"] == "alice"
    assert body["standing_roles"] == ["engineer"]
    assert [g["role"] for g in body["active_grants"]] == ["db-admin"]
    # db-admin is held through a grant, not standing: it is still requestable policy-wise.
    assert body["requestable_roles"] == ["db-admin", "dev-admin", "reviewer"]
    assert body["can_request_resources"] is True
    assert body["is_reviewer"] is False
    bob = api("bob").get(url("me/")).json()
    assert bob["is_reviewer"] is True and bob["requestable_roles"] == []


def test_roles_lists_every_role_with_requestable_for_the_caller(api):
    response = api("alice").get(url("roles/"))
    assert response.status_code == 200
    roles = {r["name"]: r for r in response.json()["results"]}
    assert roles["db-admin"]["requestable"] is True
    assert roles["auditor"]["requestable"] is False
    assert roles["engineer"] == {
        "name": "engineer",
        "description": "",
        "requestable": False,
        "held": True,
    }
    only = api("alice").get(url("roles/"), {"requestable": "true"}).json()["results"]
    assert [r["name"] for r in only] == ["db-admin", "dev-admin", "reviewer"]


def test_resources_lists_what_the_caller_may_request_with_filters(api, apply_yaml):
    apply_yaml("kind: resource\nid: node/web-prod-2\nlabels: {env: prod, team: web}\n")
    client = api("alice")
    everything = client.get(url("resources/")).json()
    # prod-access reaches prod nodes only: not the dev node, not the database.
    assert [r["id"] for r in everything["results"]] == ["node/db-prod-1", "node/web-prod-2"]
    assert everything["results"][0] == {
        "id": "node/db-prod-1",
        "kind": "node",
        "name": "db-prod-1",
        "labels": {"env": "prod", "team": "pay"},
        "description": "",
    }
    by_label = client.get(url("resources/"), {"label": "team=web"}).json()["results"]
    assert [r["id"] for r in by_label] == ["node/web-prod-2"]
    by_search = client.get(url("resources/"), {"search": "db-prod", "kind": "node"}).json()
    assert [r["id"] for r in by_search["results"]] == ["node/db-prod-1"]
    assert client.get(url("resources/"), {"kind": "db"}).json()["count"] == 0
    assert api("bob").get(url("resources/")).json()["count"] == 0


def test_create_request_stores_it_and_answers_201_with_the_request(api):
    response = api("alice").post(
        url("requests/"),
        {
            "roles": ["db-admin"],
            "resources": ["node/db-prod-1"],
            "reason": "INC-7",
            "max_duration": "2h",
            "request_ttl": 3600,
            "suggested_reviewers": ["carol"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    stored = AccessRequest.objects.get(pk=body["id"])
    assert stored.user.username == "alice" and body["user"] == "alice"
    assert body["roles"] == ["db-admin"] and body["resources"] == ["node/db-prod-1"]
    assert body["state"] == "PENDING" and body["reason"] == "INC-7"
    assert body["max_duration"] == 7200  # "2h" in, integer seconds out
    created, expires = parse_time(body["created"]), parse_time(body["expires"])
    assert expires - created == timedelta(hours=1)
    assert body["suggested_reviewers"] == ["carol"]
    assert body["reviews"] == [] and body["thresholds"][0]["approve"] == 1


def test_dry_run_answers_200_and_stores_nothing(api):
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = api("alice").post(
        url("requests/"),
        {
            "roles": ["db-admin"],
            "dry_run": True,
            "assume_start_time": start.astimezone(UTC).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] is None and body["state"] == "PENDING"
    assert parse_time(body["assume_start_time"]) == start
    assert not AccessRequest.objects.exists()


def test_list_requests_by_scope_state_and_user(api, pending, approved, second_reviewer):
    alice, bob, carol = api("alice"), api("bob"), api("carol")
    ids = lambda response: [r["id"] for r in response.json()["results"]]  # noqa: E731
    assert ids(alice.get(url("requests/"))) == [str(approved.id), str(pending.id)]
    assert ids(alice.get(url("requests/"), {"scope": "mine"})) == [
        str(approved.id),
        str(pending.id),
    ]
    assert ids(alice.get(url("requests/"), {"state": "APPROVED"})) == [str(approved.id)]
    assert ids(bob.get(url("requests/"), {"scope": "needs_review"})) == [str(pending.id)]
    assert ids(bob.get(url("requests/"), {"scope": "reviewed"})) == [str(approved.id)]
    assert ids(carol.get(url("requests/"), {"scope": "needs_review"})) == [str(pending.id)]
    assert ids(carol.get(url("requests/"), {"scope": "reviewed"})) == []
    assert ids(bob.get(url("requests/"), {"user": "alice", "state": "PENDING"})) == [
        str(pending.id)
    ]
    assert ids(bob.get(url("requests/"), {"user": "carol"})) == []


def test_request_detail_has_every_contract_field(api, approved):
    response = api("alice").get(url(f"requests/{approved.id}/"))
    assert response.status_code == 200
    body = response.json()
    contract = {
        "id", "user", "roles", "resources", "state", "reason", "created", "expires",
        "max_duration", "assume_start_time", "access_starts", "access_expires",
        "suggested_reviewers", "thresholds", "reviews", "resolve_reason",
    }  # fmt: skip
    assert contract <= body.keys()
    assert body["id"] == str(approved.id) and body["state"] == "APPROVED"
    assert body["reviews"][0]["reviewer"] == "bob" and body["reviews"][0]["state"] == "APPROVED"
    assert body["thresholds"][0]["approvals"] == 1
    window = parse_time(body["access_expires"]) - parse_time(body["access_starts"])
    assert window == timedelta(seconds=body["max_duration"])


def test_review_approves_and_opens_the_grant(api, pending):
    response = api("bob").post(
        url(f"requests/{pending.id}/reviews/"),
        {"state": "APPROVED", "reason": "ok"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "APPROVED"
    assert body["reviews"] == [
        {
            "reviewer": "bob",
            "state": "APPROVED",
            "reason": "ok",
            "assume_start_time": None,
            "created": body["reviews"][0]["created"],
        }
    ]
    assert Grant.objects.get(request=pending).role == "db-admin"


def test_withdraw_ends_a_pending_request(api, pending):
    response = api("alice").post(url(f"requests/{pending.id}/withdraw/"), {}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "WITHDRAWN"
    pending.refresh_from_db()
    assert pending.state == "WITHDRAWN"


def test_approve_and_deny_directly_by_a_resolver(api, requester):
    from requests_app.services.access_requests import access_request_create

    first = access_request_create(requester=requester, roles=["db-admin"])
    second = access_request_create(requester=requester, roles=["dev-admin"])
    sam = api("sam")
    approved = sam.post(url(f"requests/{first.id}/approve/"), {"reason": "CHG-1"}, format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["state"] == "APPROVED"
    assert approved.json()["resolved_by"] == "sam"
    assert approved.json()["resolve_reason"] == "CHG-1"
    denied = sam.post(url(f"requests/{second.id}/deny/"), {"reason": "no"}, format="json")
    assert denied.status_code == 200 and denied.json()["state"] == "DENIED"


def test_revoke_ends_access_now(api, approved):
    client = api("alice")
    assert client.get(url("access/check/"), {"role": "db-admin"}).json()["allowed"] is True
    response = client.post(
        url(f"requests/{approved.id}/revoke/"), {"reason": "done early"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "REVOKED" and body["revoked_by"] == "alice"
    assert body["revoke_reason"] == "done early"
    assert client.get(url("access/check/"), {"role": "db-admin"}).json()["allowed"] is False


def test_extend_asks_for_more_time_on_approved_access(api, approved):
    """Not in ARCHITECTURE.md's table: the portal's extensions, over the API."""
    alice = api("alice")
    response = alice.post(
        url(f"requests/{approved.id}/extend/"),
        {"reason": "INC-2 still open", "max_duration": "1h", "suggested_reviewers": ["carol"]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    extension = AccessRequest.objects.get(pk=body["id"])
    assert extension.extends_id == approved.id and body["extends"] == str(approved.id)
    assert body["state"] == "PENDING" and body["roles"] == ["db-admin"]
    assert body["reason"] == "INC-2 still open" and body["max_duration"] == 3600
    assert body["suggested_reviewers"] == ["carol"]
    listed = alice.get(url("requests/")).json()["results"]
    assert {r["id"]: r["extends"] for r in listed} == {
        str(extension.id): str(approved.id),
        str(approved.id): None,
    }
    # Approved, the extension's access starts where the old access ends: no gap.
    reviewed = api("carol").post(
        url(f"requests/{extension.id}/reviews/"), {"state": "APPROVED"}, format="json"
    )
    assert reviewed.status_code == 201
    assert parse_time(reviewed.json()["access_starts"]) == approved.access_expires
    window = parse_time(reviewed.json()["access_expires"]) - approved.access_expires
    assert window == timedelta(hours=1)


def test_extend_dry_run_answers_200_and_stores_nothing(api, approved):
    response = api("alice").post(
        url(f"requests/{approved.id}/extend/"), {"dry_run": True}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] is None and body["extends"] == str(approved.id)
    assert body["state"] == "PENDING" and body["roles"] == ["db-admin"]
    assert not AccessRequest.objects.filter(extends=approved).exists()


def test_grants_list_with_active_and_user_filters(api, approved):
    response = api("alice").get(url("grants/"), {"active": "true"})
    assert response.status_code == 200
    [grant] = response.json()["results"]
    assert grant["user"] == "alice" and grant["role"] == "db-admin"
    assert grant["resource"] is None and grant["revoked"] is False
    assert grant["request"] == str(approved.id)
    assert parse_time(grant["expires"]) == approved.access_expires
    assert parse_time(grant["starts"]) == approved.access_starts
    assert api("alice").get(url("grants/"), {"active": "false"}).json()["count"] == 0
    assert api("erin").get(url("grants/"), {"user": "bob"}).json()["count"] == 0
    assert api("erin").get(url("grants/"), {"user": "alice"}).json()["count"] == 1


def test_access_check_for_role_and_resource(api, approved):
    alice = api("alice")
    role = alice.get(url("access/check/"), {"role": "db-admin"}).json()
    assert role["allowed"] is True
    assert parse_time(role["expires"]) == approved.access_expires
    standing = alice.get(url("access/check/"), {"role": "engineer"}).json()
    assert standing["allowed"] is True and standing["expires"] is None
    resource = alice.get(url("access/check/"), {"resource": "db/billing"}).json()
    assert resource["allowed"] is True  # db-admin, granted, reaches prod databases
    other = api("ivy").get(url("access/check/"), {"user": "alice", "resource": "node/web-dev-1"})
    assert other.status_code == 200
    assert other.json()["allowed"] is False and other.json()["expires"] is None


def test_audit_lists_events_with_filters_for_auditors(api, approved):
    response = api("erin").get(url("audit/"), {"action": "review.submitted"})
    assert response.status_code == 200
    [event] = response.json()["results"]
    assert event["actor"] == "bob" and event["target_id"] == str(approved.id)
    assert event["data"]["state"] == "APPROVED"
    assert len(event["hash"]) == 64
    by_actor = api("erin").get(url("audit/"), {"actor": "alice"}).json()
    assert [e["action"] for e in by_actor["results"]] == ["request.created"]
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    assert api("erin").get(url("audit/"), {"since": future}).json()["count"] == 0
    newest_first = api("erin").get(url("audit/")).json()["results"]
    assert newest_first[0]["seq"] == AuditEvent.objects.order_by("-seq").first().seq
    oldest_first = api("erin").get(url("audit/"), {"ordering": "seq"}).json()["results"]
    assert oldest_first[0]["seq"] == 1
