"""Threshold semantics (ARCHITECTURE.md, "Thresholds"), one test per rule."""

from __future__ import annotations

import pytest

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import NotAllowed
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

REVIEWERS = """
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: ["*"]}
---
kind: role
name: lead
spec:
  allow:
    review_requests: {roles: ["*"]}
---
kind: role
name: target
---
kind: role
name: other-target
---
kind: user
name: bob
roles: [reviewer]
---
kind: user
name: carol
roles: [reviewer]
---
kind: user
name: dan
roles: [reviewer]
---
kind: user
name: lena
roles: [lead]
"""


def policy(*requester_roles: str) -> str:
    """Requester roles (YAML role docs) + alice holding them + the reviewers."""
    names = [doc.split("name: ", 1)[1].split("\n", 1)[0] for doc in requester_roles]
    roles = "\n---\n".join(requester_roles)
    return f"{roles}\n---\nkind: user\nname: alice\nroles: [{', '.join(names)}]\n{REVIEWERS}"


def role(name: str, thresholds: str = "", roles: str = "[target, other-target]") -> str:
    lines = [
        "kind: role",
        f"name: {name}",
        "spec:",
        "  allow:",
        "    request:",
        f"      roles: {roles}",
    ]
    if thresholds:
        lines.append(f"      thresholds: {thresholds}")
    return "\n".join(lines)


def review(request, name, user, state="APPROVED", reason="ok"):
    return review_submit(request_id=request.id, reviewer=user(name), state=state, reason=reason)


def test_default_threshold_is_one_approval(apply_yaml, user):
    apply_yaml(policy(role("asker")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert request.policy["thresholds"] == [
        {"name": "default", "filter": "", "approve": 1, "deny": 1}
    ]
    assert review(request, "bob", user).state == RequestState.APPROVED


def test_default_threshold_is_one_denial(apply_yaml, user):
    apply_yaml(policy(role("asker")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert review(request, "bob", user, "DENIED").state == RequestState.DENIED


def test_omitted_deny_count_is_zero_and_never_fires(apply_yaml, user):
    apply_yaml(policy(role("asker", "[{name: two, approve: 2}]")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    for name in ("bob", "carol", "dan"):
        assert review(request, name, user, "DENIED").state == RequestState.PENDING
    assert review(request, "lena", user).state == RequestState.PENDING


def test_omitted_approve_count_is_zero_and_never_fires(apply_yaml, user):
    apply_yaml(policy(role("asker", "[{name: veto, deny: 2}]")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    for name in ("bob", "carol", "dan"):
        assert review(request, name, user).state == RequestState.PENDING
    assert review(request, "lena", user, "DENIED").state == RequestState.PENDING


def test_two_approvals_needed_when_threshold_says_two(apply_yaml, user):
    apply_yaml(policy(role("asker", "[{name: two, approve: 2, deny: 1}]")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.APPROVED


def test_every_set_of_a_role_must_be_met(apply_yaml, user):
    # Two standing roles allow `target`: each contributes a set; both must be satisfied.
    apply_yaml(
        policy(
            role(
                "asker", "[{name: lead, filter: 'contains(reviewer.roles, \"lead\")', approve: 1}]"
            ),
            role("helper", "[{name: pair, approve: 2}]"),
        )
    )
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert len(request.policy["sets"]["role:target"]) == 2
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.PENDING  # pair met, lead not
    assert review(request, "lena", user).state == RequestState.APPROVED


def test_one_threshold_of_a_set_is_enough(apply_yaml, user):
    apply_yaml(
        policy(
            role(
                "asker",
                "[{name: pair, approve: 2}, "
                "{name: lead, filter: 'contains(reviewer.roles, \"lead\")', approve: 1}]",
            )
        )
    )
    first = access_request_create(requester=user("alice"), roles=["target"])
    assert review(first, "lena", user).state == RequestState.APPROVED
    second = access_request_create(requester=user("alice"), roles=["other-target"])
    assert review(second, "bob", user).state == RequestState.PENDING
    assert review(second, "carol", user).state == RequestState.APPROVED


def test_every_requested_role_must_be_approved(apply_yaml, user):
    apply_yaml(
        policy(
            role("asker", "[{name: one, approve: 1}]", roles="[target]"),
            role("strict", "[{name: two, approve: 2}]", roles="[other-target]"),
        )
    )
    request = access_request_create(requester=user("alice"), roles=["target", "other-target"])
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.APPROVED


def test_deny_reached_before_approval_denies(apply_yaml, user):
    apply_yaml(policy(role("asker", "[{name: slow, approve: 3, deny: 1}]")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user, "DENIED").state == RequestState.DENIED


def test_filter_on_reviewer_roles_counts_only_matching_reviews(apply_yaml, user):
    apply_yaml(
        policy(
            role(
                "asker",
                "[{name: leads, filter: 'contains(reviewer.roles, \"lead\")', "
                "approve: 1, deny: 1}]",
            )
        )
    )
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert review(request, "bob", user, "DENIED").state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.PENDING
    assert review(request, "lena", user).state == RequestState.APPROVED


def test_filter_on_review_reason(apply_yaml, user):
    apply_yaml(
        policy(
            role(
                "asker",
                "[{name: ticket, approve: 1, "
                "filter: 'regexp.match(review.reason, \"^INC-[0-9]+$\")'}]",
            )
        )
    )
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert review(request, "bob", user, reason="looks fine").state == RequestState.PENDING
    assert review(request, "carol", user, reason="INC-42").state == RequestState.APPROVED


def test_identical_thresholds_are_stored_once_and_share_a_counter(apply_yaml, user):
    apply_yaml(
        policy(
            role("asker", "[{name: pair, approve: 2}]"),
            role("helper", "[{name: pair, approve: 2}]"),
        )
    )
    request = access_request_create(requester=user("alice"), roles=["target"])
    assert request.policy["thresholds"] == [{"name": "pair", "filter": "", "approve": 2, "deny": 0}]
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.APPROVED


def test_deny_rule_on_reviewer_side_wins(apply_yaml, user):
    apply_yaml(policy(role("asker")))
    apply_yaml(
        """
kind: role
name: no-target-reviews
spec:
  deny:
    review_requests: {roles: [target]}
---
kind: user
name: bob
roles: [reviewer, no-target-reviews]
"""
    )
    request = access_request_create(requester=user("alice"), roles=["target"])
    with pytest.raises(NotAllowed):
        review(request, "bob", user)
    other = access_request_create(requester=user("alice"), roles=["other-target"])
    assert review(other, "bob", user).state == RequestState.APPROVED


def test_policy_edit_does_not_change_a_request_in_flight(apply_yaml, user):
    apply_yaml(policy(role("asker", "[{name: two, approve: 2}]")))
    request = access_request_create(requester=user("alice"), roles=["target"])
    apply_yaml(policy(role("asker", "[{name: one, approve: 1}]")))
    assert review(request, "bob", user).state == RequestState.PENDING
    assert review(request, "carol", user).state == RequestState.APPROVED
