"""Approvals racing (two PostgreSQL sessions): one proposal approved twice at once is
applied once; two proposals on one role approved at once: one applies, the other is STALE."""

from __future__ import annotations

import pytest

from accessportal.kernel.errors import ProposalNotPending, ProposalStale
from accessportal.kernel.models import AuditEvent
from policies_app.loader import plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.services.proposals import policy_proposal_approve, policy_proposal_create
from tests.concurrency import run_together
from tests.policies_app.test_proposals import APPROVERS, OPS_3D

pytestmark = pytest.mark.postgres

# alice proposes (policies_app.add_policyproposal, the one rule for proposing).
ALICE_PROPOSES = """
kind: role
name: policy-author
spec:
  allow:
    permissions: [policies_app.add_policyproposal]
---
kind: user
name: alice
roles: [engineer, policy-author]
"""


def propose(text: str, proposer):
    plan = plan_from_texts([("t.yaml", text)])
    return policy_proposal_create(plan=plan, proposer=proposer, source="api")


@pytest.fixture
def people(transactional_db, apply_yaml, base_policy, user):
    apply_yaml(APPROVERS + "---\n" + OPS_3D + "---\n" + ALICE_PROPOSES)
    return user("dana"), user("erik"), user("alice")


@pytest.mark.parametrize("round_", range(2))
def test_one_proposal_approved_twice_at_once_is_applied_once(people, user, round_):
    dana, erik, _ = people
    proposal = propose(OPS_3D.replace("3d", "5d"), user("alice"))
    outcomes = run_together(
        lambda: policy_proposal_approve(proposal_id=proposal.pk, approver=dana),
        lambda: policy_proposal_approve(proposal_id=proposal.pk, approver=erik),
    )
    assert sorted(o.ok for o in outcomes) == [False, True]
    (failed,) = [o for o in outcomes if not o.ok]
    assert isinstance(failed.error, ProposalNotPending)
    assert AuditEvent.objects.filter(action="policy_proposal.applied").count() == 1
    assert Role.objects.get(name="ops").spec["allow"]["request"]["max_duration"] == 5 * 86400


@pytest.mark.parametrize("round_", range(2))
def test_two_proposals_on_one_role_approved_at_once_one_goes_stale(people, round_):
    dana, erik, alice = people
    five = propose(OPS_3D.replace("3d", "5d"), alice)
    six = propose(OPS_3D.replace("3d", "6d"), alice)
    outcomes = run_together(
        lambda: policy_proposal_approve(proposal_id=five.pk, approver=dana),
        lambda: policy_proposal_approve(proposal_id=six.pk, approver=erik),
    )
    assert sorted(o.ok for o in outcomes) == [False, True]
    (failed,) = [o for o in outcomes if not o.ok]
    assert isinstance(failed.error, ProposalStale)
    states = sorted(PolicyProposal.objects.values_list("state", flat=True))
    assert states == ["APPLIED", "STALE"]
    applied = PolicyProposal.objects.get(state="APPLIED")
    days = 5 if applied.pk == five.pk else 6
    assert Role.objects.get(name="ops").spec["allow"]["request"]["max_duration"] == days * 86400
