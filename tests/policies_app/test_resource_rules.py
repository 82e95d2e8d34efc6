"""Resource requests follow the role rules: deny wins over a search-as path, and a reason
is required when a rule allowing the role a resource goes through requires one. The
catalog (what the portal and the API offer) and the create service agree on both."""

from __future__ import annotations

import pytest

from accessportal.kernel.errors import NotAllowed, ValidationFailed
from policies_app.catalog import requestable_resources, resource_kinds_requestable
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create

# alice (engineer) may search as prod-access; her second role forbids requesting it.
DENIED_ROLE = """
kind: role
name: no-prod
spec:
  deny:
    request: {roles: [prod-access]}
---
kind: user
name: alice
roles: [engineer, no-prod]
"""

# engineer's search-as path has no reason rule; oncall allows requesting prod-access as a
# role, and asks for a reason whenever it is requested.
REASON_ON_THE_ROLE = """
kind: role
name: oncall
spec:
  allow:
    request:
      roles: [prod-access]
      reason: {mode: required, prompt: "Incident number"}
---
kind: user
name: alice
roles: [engineer, oncall]
"""


def _ids(user) -> list[str]:
    return [r.resource_id for r in requestable_resources(user)]


def test_a_role_denied_by_deny_request_roles_is_no_path_to_a_resource(requester, apply_yaml):
    assert "node/db-prod-1" in _ids(requester)
    apply_yaml(DENIED_ROLE)
    assert _ids(requester) == []
    assert resource_kinds_requestable(requester) == []
    with pytest.raises(NotAllowed) as err:
        access_request_create(requester=requester, resources=["node/db-prod-1"], reason="x")
    assert err.value.field == "resources"
    assert not AccessRequest.objects.exists()


def test_api_lists_no_resource_behind_a_denied_role(requester, apply_yaml, client):
    apply_yaml(DENIED_ROLE)
    client.force_login(requester)
    response = client.get("/api/v1/resources/")
    assert response.status_code == 200
    body = response.json()
    assert (body.get("results", body)) == []


def test_resource_needs_a_reason_when_a_rule_allowing_its_role_requires_one(requester, apply_yaml):
    apply_yaml(REASON_ON_THE_ROLE)
    (offered,) = [r for r in requestable_resources(requester) if r.kind == "node"]
    assert offered.rule.reason_required and offered.rule.reason_prompt == "Incident number"
    with pytest.raises(ValidationFailed) as err:
        access_request_create(requester=requester, resources=["node/db-prod-1"])
    assert err.value.field == "reason"
    assert "Incident number" in err.value.message
    assert not AccessRequest.objects.exists()
    made = access_request_create(requester=requester, resources=["node/db-prod-1"], reason="INC-9")
    assert made.policy["reason_required"] is True
    assert made.policy["reason_prompt"] == "Incident number"


def test_resource_reason_stays_optional_without_such_a_rule(requester):
    (offered,) = [r for r in requestable_resources(requester) if r.kind == "node"]
    assert not offered.rule.reason_required
    made = access_request_create(requester=requester, resources=["node/db-prod-1"])
    assert made.policy["reason_required"] is False
