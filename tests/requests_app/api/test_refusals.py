"""Every refusal a user can meet has a clear message and the right status."""

from __future__ import annotations

import pytest

from requests_app.models import AccessRequest, Review
from requests_app.services.access_requests import access_request_create
from tests.policies import ENGINEER_ROLES, REASON_REQUIRED, SEARCH_PROD, engineer_requests
from tests.requests_app.api.conftest import url

TWO_PERSON = engineer_requests(
    SEARCH_PROD,
    "thresholds: [{name: two-person, approve: 2, deny: 2}]",
    REASON_REQUIRED,
    "max_duration: 2h",
    roles=ENGINEER_ROLES,
)


@pytest.fixture
def strict_policy(api_policy, apply_yaml):
    apply_yaml(TWO_PERSON)


def create(client, **body):
    return client.post(url("requests/"), body, format="json")


def test_role_you_may_not_request_is_403_naming_it(api):
    response = create(api("alice"), roles=["auditor"], reason="x")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "you may not request the role 'auditor' (it does not exist or no role of "
        "yours allows requesting it)",
        "code": "not_allowed",
        "field": "roles",
        "errors": {
            "roles": [
                "you may not request the role 'auditor' (it does not exist or no role of "
                "yours allows requesting it)"
            ]
        },
    }


def test_unknown_resource_is_refused_like_a_forbidden_one(api):
    unknown = create(api("alice"), resources=["node/nope"], reason="x")
    forbidden = create(api("alice"), resources=["node/web-dev-1"], reason="x")
    assert unknown.status_code == forbidden.status_code == 403
    assert "node/nope" in unknown.json()["detail"]
    assert unknown.json()["detail"].replace("nope", "web-dev-1") == forbidden.json()["detail"]


def test_malformed_resource_id_is_400(api):
    response = create(api("alice"), resources=["no-slash"])
    assert response.status_code == 400
    assert "kind/name" in response.json()["detail"]


def test_required_reason_is_422_reason_required_with_the_policy_prompt(api, strict_policy):
    response = create(api("alice"), roles=["db-admin"])
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "reason" and body["code"] == "reason_required"
    assert body["detail"] == "a reason is required for this request (Ticket number and why)"
    assert not AccessRequest.objects.exists()


def test_duration_above_the_ceiling_is_422_and_above_the_cap_is_lowered(api, strict_policy):
    too_long = create(api("alice"), roles=["db-admin"], reason="x", max_duration="15d")
    assert too_long.status_code == 422 and too_long.json()["code"] == "unprocessable"
    assert too_long.json()["detail"] == "max_duration may be at most 14d (asked for 15d)"
    capped = create(api("alice"), roles=["db-admin"], reason="x", max_duration="4h")
    assert capped.status_code == 201
    assert capped.json()["requested_duration"] == 4 * 3600
    assert capped.json()["max_duration"] == 2 * 3600


def test_seconds_above_the_ceiling_break_the_schema_and_are_400_with_the_same_message(api):
    """The schema's `maximum` bounds the seconds form; text ("15d") only the service can."""
    too_long = create(api("alice"), roles=["db-admin"], reason="x", max_duration=15 * 86400)
    assert too_long.status_code == 400 and too_long.json()["code"] == "invalid"
    assert too_long.json()["detail"] == "max_duration: may be at most 14d (asked for 15d)"
    assert too_long.json()["errors"] == {"max_duration": ["may be at most 14d (asked for 15d)"]}
    body = {"roles": ["db-admin"], "max_duration": 14 * 86400, "dry_run": True}
    at_the_ceiling = api("alice").post(url("requests/"), body, format="json")
    assert at_the_ceiling.status_code == 200
    assert at_the_ceiling.json()["requested_duration"] == 14 * 86400


def test_pending_ttl_above_seven_days_is_422(api):
    response = create(api("alice"), roles=["db-admin"], request_ttl="8d")
    assert response.status_code == 422
    assert response.json()["field"] == "request_ttl"


def test_second_review_by_the_same_reviewer_is_409(api, strict_policy, requester):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
    path = url(f"requests/{request.id}/reviews/")
    first = api("bob").post(path, {"state": "APPROVED", "reason": "ok"}, format="json")
    assert first.status_code == 201 and first.json()["state"] == "PENDING"
    again = api("bob").post(path, {"state": "DENIED", "reason": "no"}, format="json")
    assert again.status_code == 409
    assert again.json() == {
        "detail": "you have already reviewed this request",
        "code": "already_reviewed",
    }
    assert Review.objects.filter(request=request).count() == 1


def test_review_of_a_request_no_longer_pending_is_409(api, pending):
    api("alice").post(url(f"requests/{pending.id}/withdraw/"), {}, format="json")
    response = api("bob").post(
        url(f"requests/{pending.id}/reviews/"), {"state": "APPROVED"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["detail"] == "this request is withdrawn, no longer pending"
    assert response.json()["code"] == "not_pending"


def test_withdraw_and_resolve_after_resolution_are_409(api, approved):
    withdraw = api("alice").post(url(f"requests/{approved.id}/withdraw/"), {}, format="json")
    assert withdraw.status_code == 409
    deny = api("sam").post(url(f"requests/{approved.id}/deny/"), {"reason": "x"}, format="json")
    assert deny.status_code == 409


def test_reviewing_your_own_request_is_403_even_for_a_superuser(api, admin, apply_yaml):
    apply_yaml("kind: user\nname: root\nroles: [engineer, reviewer]\n")
    request = access_request_create(requester=admin, roles=["db-admin"])
    path = f"requests/{request.id}/"
    review = api("root").post(url(path + "reviews/"), {"state": "APPROVED"}, format="json")
    assert review.status_code == 403
    assert review.json()["detail"] == "nobody may review their own request"
    approve = api("root").post(url(path + "approve/"), {"reason": "me"}, format="json")
    assert approve.status_code == 403
    assert approve.json()["detail"] == "nobody may resolve their own request"


def test_resolve_and_revoke_without_a_reason_are_422_reason_required(api, pending, approved):
    approve = api("sam").post(url(f"requests/{pending.id}/approve/"), {}, format="json")
    assert approve.status_code == 422 and approve.json()["code"] == "reason_required"
    assert approve.json()["detail"] == "a reason is required to resolve a request"
    revoke = api("alice").post(
        url(f"requests/{approved.id}/revoke/"), {"reason": "  "}, format="json"
    )
    assert revoke.status_code == 422 and revoke.json()["code"] == "reason_required"
    assert revoke.json()["detail"] == "a reason is required to revoke access"


def test_revoking_access_that_is_not_approved_is_409(api, pending):
    response = api("alice").post(
        url(f"requests/{pending.id}/revoke/"), {"reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert "only approved access can be revoked" in response.json()["detail"]


def test_access_check_refusals(api):
    both = api("alice").get(url("access/check/"), {"role": "a", "resource": "b/c"})
    assert both.status_code == 422
    assert both.json() == {
        "detail": "give exactly one of role or resource",
        "code": "unprocessable",
        "errors": {"non_field_errors": ["give exactly one of role or resource"]},
    }
    neither = api("alice").get(url("access/check/"))
    assert neither.status_code == 422
    bad_id = api("alice").get(url("access/check/"), {"resource": "nokind"})
    assert bad_id.status_code == 400 and bad_id.json()["field"] == "resource"
    unknown_user = api("ivy").get(url("access/check/"), {"user": "ghost", "role": "x"})
    assert unknown_user.status_code == 404
    assert unknown_user.json()["detail"] == "no such user"
    # Without check_access, unknown and known users are refused alike: no probing.
    ghost = api("bob").get(url("access/check/"), {"user": "ghost", "role": "x"})
    alice = api("bob").get(url("access/check/"), {"user": "alice", "role": "x"})
    assert ghost.status_code == alice.status_code == 403
    assert ghost.json() == alice.json()
    unknown_resource = api("alice").get(url("access/check/"), {"resource": "node/ghost"})
    assert unknown_resource.status_code == 200 and unknown_resource.json()["allowed"] is False


def test_audit_refusal_names_the_permission(api):
    response = api("alice").get(url("audit/"))
    assert response.status_code == 403
    assert "requests_app.view_auditevent" in response.json()["detail"]


def test_requests_cannot_be_edited_or_deleted(api, pending):
    client = api("alice")
    path = url(f"requests/{pending.id}/")
    for method in (client.put, client.patch, client.delete):
        response = method(path, {"state": "APPROVED"}, format="json")
        assert response.status_code == 405
    pending.refresh_from_db()
    assert pending.state == "PENDING"


def extend(client, request_id, **body):
    return client.post(url(f"requests/{request_id}/extend/"), body, format="json")


def test_extending_access_that_is_not_approved_or_ended_is_409(api, pending, approved):
    alice = api("alice")
    not_yet = extend(alice, pending.id, reason="x")
    assert not_yet.status_code == 409
    assert not_yet.json() == {
        "detail": "only approved access can be extended; this request is pending",
        "code": "not_approved",
    }
    revoked = alice.post(url(f"requests/{approved.id}/revoke/"), {"reason": "done"}, format="json")
    assert revoked.status_code == 200
    ended = extend(alice, approved.id, reason="x")
    assert ended.status_code == 409
    assert "revoked" in ended.json()["detail"]
    assert not AccessRequest.objects.filter(extends__isnull=False).exists()


def test_a_second_extension_while_one_is_pending_is_409_naming_it(api, approved):
    first = extend(api("alice"), approved.id, reason="x")
    assert first.status_code == 201
    second = extend(api("alice"), approved.id, reason="y")
    assert second.status_code == 409
    assert first.json()["id"] in second.json()["detail"]
    assert AccessRequest.objects.filter(extends=approved).count() == 1


def test_only_the_requester_may_extend_their_access(api, approved):
    for persona in ("bob", "erin", "sam"):  # they may see it, not extend it
        response = extend(api(persona), approved.id, reason="x")
        assert response.status_code == 403, persona
        assert response.json() == {
            "detail": "only the requester may extend their access",
            "code": "not_allowed",
        }
    assert not AccessRequest.objects.filter(extends=approved).exists()


def test_extension_follows_todays_policy_reason_and_caps(api, approved, strict_policy):
    alice = api("alice")
    missing = extend(alice, approved.id)
    assert missing.status_code == 422
    assert missing.json()["field"] == "reason" and "Ticket number" in missing.json()["detail"]
    too_long = extend(alice, approved.id, reason="INC-2", max_duration="15d")
    assert too_long.status_code == 422 and too_long.json()["field"] == "max_duration"
    capped = extend(alice, approved.id, reason="INC-2", max_duration="5h", dry_run=True)
    assert capped.status_code == 200 and capped.json()["max_duration"] == 2 * 3600
