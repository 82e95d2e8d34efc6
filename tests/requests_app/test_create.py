"""Creating requests: who may ask for what (deny wins, "*", resources), reasons, dry runs."""

from __future__ import annotations

import pytest

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import NotAllowed, ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.notifications import outbox_route
from tests.policies import engineer_requests


def test_request_is_stored_pending_audited_and_reviewers_notified(requester):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-7")
    stored = AccessRequest.objects.get(pk=request.id)
    assert stored.state == RequestState.PENDING and stored.reason == "INC-7"
    event = AuditEvent.objects.get(action="request.created")
    assert event.target_id == str(request.id) and event.actor_name == "alice"
    message = OutboxMessage.objects.get(event="request.created")
    # The eligible reviewers are named when the worker routes it (after commit).
    assert outbox_route(message_id=message.pk)
    message.refresh_from_db()
    assert message.recipients == ["bob", "carol"]


def test_role_not_allowed_by_policy_is_refused(requester):
    with pytest.raises(NotAllowed, match="may not request the role 'auditor'"):
        access_request_create(requester=requester, roles=["auditor"])
    assert not AccessRequest.objects.exists()


def test_unknown_role_is_refused_like_a_forbidden_one(requester):
    with pytest.raises(NotAllowed, match="'ghost'"):
        access_request_create(requester=requester, roles=["ghost"])


def test_deny_rule_wins_over_allow(requester, apply_yaml):
    apply_yaml(
        """
kind: role
name: no-db
spec:
  deny:
    request: {roles: ["db-*"]}
---
kind: user
name: alice
roles: [engineer, no-db]
"""
    )
    with pytest.raises(NotAllowed):
        access_request_create(requester=requester, roles=["db-admin"])
    assert access_request_create(requester=requester, roles=["dev-admin"])


def test_star_requests_every_requestable_role_not_held(requester):
    request = access_request_create(requester=requester, roles=["*"])
    assert sorted(request.roles) == ["db-admin", "dev-admin", "reviewer"]


def test_star_with_nothing_requestable_is_refused(outsider):
    with pytest.raises(NotAllowed, match="no role you may request"):
        access_request_create(requester=outsider, roles=["*"])


def test_held_role_cannot_be_requested(requester, apply_yaml):
    apply_yaml(engineer_requests(roles="[db-admin, engineer]"))
    with pytest.raises(ValidationFailed, match="already hold"):
        access_request_create(requester=requester, roles=["engineer"])


def test_glob_and_regex_role_patterns(requester, apply_yaml):
    apply_yaml(engineer_requests(roles='["db-*", "^dev-[a-z]+$"]'))
    assert access_request_create(requester=requester, roles=["db-admin", "dev-admin"])
    with pytest.raises(NotAllowed):
        access_request_create(requester=requester, roles=["reviewer"])


def test_empty_request_is_refused(requester):
    with pytest.raises(ValidationFailed, match="at least one role or resource"):
        access_request_create(requester=requester)


def test_reason_required_by_rule(requester, apply_yaml):
    apply_yaml(
        """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin]
      reason: {mode: required, prompt: "Ticket number"}
"""
    )
    with pytest.raises(ValidationFailed, match=r"reason is required.*Ticket number") as err:
        access_request_create(requester=requester, roles=["db-admin"], reason="   ")
    assert err.value.field == "reason"
    assert access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")


def test_reason_required_by_request_access_option(requester, apply_yaml):
    apply_yaml(
        """
kind: role
name: strict
spec:
  options: {request_access: reason}
---
kind: user
name: alice
roles: [engineer, strict]
"""
    )
    with pytest.raises(ValidationFailed, match="reason is required"):
        access_request_create(requester=requester, roles=["dev-admin"])


def test_reason_longer_than_limit_is_refused(requester):
    with pytest.raises(ValidationFailed, match="4096"):
        access_request_create(requester=requester, roles=["db-admin"], reason="x" * 4097)


def test_resource_reachable_through_search_as_role_can_be_requested(requester):
    request = access_request_create(requester=requester, resources=["node/db-prod-1"])
    assert request.resources == ["node/db-prod-1"]
    assert request.policy["sets"] == {"resource:node/db-prod-1": [[0]]}


def test_resource_outside_search_as_roles_is_refused(requester):
    with pytest.raises(NotAllowed, match="node/web-dev-1"):
        access_request_create(requester=requester, resources=["node/web-dev-1"])


def test_unknown_resource_gets_the_same_answer_as_a_forbidden_one(requester):
    with pytest.raises(NotAllowed) as unknown:
        access_request_create(requester=requester, resources=["node/nope"])
    with pytest.raises(NotAllowed) as forbidden:
        access_request_create(requester=requester, resources=["node/web-dev-1"])
    assert unknown.value.message.replace("nope", "X") == forbidden.value.message.replace(
        "web-dev-1", "X"
    )


def test_malformed_resource_id_is_refused(requester):
    with pytest.raises(ValidationFailed, match="kind/name"):
        access_request_create(requester=requester, resources=["just-a-name"])


def test_too_many_resources_are_refused(requester):
    with pytest.raises(ValidationFailed, match="at most 300"):
        access_request_create(requester=requester, resources=[f"node/n{i}" for i in range(301)])


def test_denied_search_as_role_hides_its_resources(requester, apply_yaml):
    apply_yaml(
        """
kind: role
name: no-prod
spec:
  deny:
    request: {search_as_roles: [prod-access]}
---
kind: user
name: alice
roles: [engineer, no-prod]
"""
    )
    with pytest.raises(NotAllowed):
        access_request_create(requester=requester, resources=["node/db-prod-1"])


def test_dry_run_stores_nothing(requester):
    preview = access_request_create(
        requester=requester, roles=["db-admin"], max_duration="2h", dry_run=True
    )
    assert preview.max_duration == 7200 and preview.roles == ["db-admin"]
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="request.created").exists()


def test_suggested_reviewers_from_request_and_policy(requester, apply_yaml):
    apply_yaml(
        engineer_requests("suggested_reviewers: [carol]", "annotations: {mechanism: [pager]}")
    )
    request = access_request_create(
        requester=requester, roles=["db-admin"], suggested_reviewers=["bob"]
    )
    assert request.suggested_reviewers == ["bob", "carol"]
    assert request.annotations == {"mechanism": ["pager"]}


def test_unknown_suggested_reviewer_is_refused(requester):
    with pytest.raises(ValidationFailed, match="ghost"):
        access_request_create(
            requester=requester, roles=["db-admin"], suggested_reviewers=["ghost"]
        )
