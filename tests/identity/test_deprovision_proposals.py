"""Deprovisioning withdraws a leaver's pending policy proposals (invariant 12; review M2 of
the two-person rule): the identity provider deactivates them over SCIM, and the change they
proposed can no longer be approved."""

from __future__ import annotations

import pytest

from accessportal.kernel.errors import ProposalNotPending
from accessportal.kernel.models import AuditEvent
from policies_app.loader import plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.services.proposals import policy_proposal_approve, policy_proposal_create

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
name: alice
roles: [engineer, policy-author]
---
kind: user
name: erik
roles: [policy-approver]
"""
CHANGE = "kind: role\nname: engineer\ndescription: harmless-looking\n"


def test_scim_deactivation_withdraws_the_proposal_and_it_cannot_be_approved(okta, apply_yaml, user):
    apply_yaml(PEOPLE)
    proposal = policy_proposal_create(
        plan=plan_from_texts([("c.yaml", CHANGE)]), proposer=user("alice"), source="api"
    )
    found = okta.get("Users", params={"filter": 'userName eq "alice"'}).json()["Resources"]
    off = okta.patch(f"Users/{found[0]['id']}", {"op": "replace", "value": {"active": False}})
    assert off.status_code == 200, off.text

    proposal.refresh_from_db()
    assert proposal.state == PolicyProposal.State.WITHDRAWN
    withdrawn = AuditEvent.objects.get(action="policy_proposal.withdrawn")
    assert withdrawn.actor_name == "scim:okta" and withdrawn.data["deprovisioned"] is True
    gone = AuditEvent.objects.get(action="user.deprovisioned")
    assert gone.data["proposals_withdrawn"] == [proposal.pk]
    with pytest.raises(ProposalNotPending):
        policy_proposal_approve(proposal_id=proposal.pk, approver=user("erik"))
    assert Role.objects.get(name="engineer").description != "harmless-looking"
