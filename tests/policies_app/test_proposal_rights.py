"""Review fixes to the two-person rule (README "Two-person rule for policy changes"): who
may approve (a standing role only), who may propose (one rule on every surface), a
deactivated proposer's proposals, what a created document shows, the CLI's unverified
proposer, and the demo loading under the rule."""

from __future__ import annotations

import textwrap

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from accessportal.kernel.errors import NotAllowed, ProposalNotPending
from accessportal.kernel.models import AuditEvent
from policies_app.loader import plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.services.proposals import (
    APPROVE_PERMISSION,
    policy_change_preview,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
)
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.policies_app.test_proposals import APPROVERS, OPS_3D, OPS_5D

GOD = """
kind: role
name: god
spec:
  allow:
    request: {roles: ["*"]}
    permissions: [policies_app.approve_policyproposal]
---
kind: user
name: zed
roles: [god]
"""


def plan(text: str):
    return plan_from_texts([("test.yaml", textwrap.dedent(text))])


@pytest.fixture
def approvers(base_policy, apply_yaml, user):
    apply_yaml(APPROVERS + "---\n" + OPS_3D)
    return user("dana"), user("erik")


@pytest.fixture
def proposal(approvers):
    return policy_proposal_create(plan=plan(OPS_5D), proposer=approvers[0], source="api")


def _refused(proposal, person) -> None:
    assert person.has_perm(APPROVE_PERMISSION)  # Django says yes ...
    with pytest.raises(NotAllowed, match="standing role"):  # ... the rule says no
        policy_proposal_approve(proposal_id=proposal.pk, approver=person)
    with pytest.raises(NotAllowed):
        policy_proposal_reject(proposal_id=proposal.pk, approver=person, reason="no")
    proposal.refresh_from_db()
    assert proposal.state == "PENDING"


# M1: the approve right comes only from a standing policy or identity-provider role.


def test_a_superuser_without_the_role_cannot_approve(proposal, user):
    root = user("bob")
    root.is_superuser = True
    root.save()
    _refused(proposal, root)


def test_a_direct_or_group_permission_does_not_give_the_approve_right(proposal, user):
    perm = Permission.objects.get(codename="approve_policyproposal")
    bob, carol = user("bob"), user("carol")
    bob.user_permissions.add(perm)
    group = Group.objects.create(name="policy-approvers")
    group.permissions.add(perm)
    carol.groups.add(group)
    _refused(proposal, user("bob"))
    _refused(proposal, user("carol"))


def test_a_role_granted_by_a_request_does_not_give_the_approve_right(proposal, apply_yaml, user):
    # db-admin, which alice may request, carries the approve permission while granted.
    apply_yaml(
        "kind: role\nname: db-admin\nspec:\n  allow:\n"
        "    permissions: [policies_app.approve_policyproposal]\n"
    )
    alice = user("alice")
    request = access_request_create(requester=alice, roles=["db-admin"], reason="INC-9")
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED")
    _refused(proposal, user("alice"))


def test_a_standing_role_from_an_identity_provider_gives_it(proposal, user):
    from policies_app.models import RoleMembership

    bob = user("bob")
    RoleMembership.objects.create(
        role=Role.objects.get(name="policy-approver"), user=bob, sources=["scim:okta"]
    )
    policy_proposal_approve(proposal_id=proposal.pk, approver=user("bob"))
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decided_by.username) == ("APPLIED", "bob")


# M2: a deactivated proposer's proposal is never applied.


def test_a_deactivated_proposers_proposal_cannot_be_approved(proposal, approvers):
    dana, erik = approvers
    dana.is_active = False  # deactivated in the account admin, not through deprovisioning
    dana.save(update_fields=["is_active"])
    with pytest.raises(ProposalNotPending, match="deactivated"):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)
    assert Role.objects.get(name="ops").spec["allow"]["request"]["max_duration"] == 3 * 86400


# L2: one rule for who may propose, on every surface.


def test_proposing_needs_the_add_permission_in_the_service_and_the_cli(approvers, user, tmp_path):
    bob = user("bob")  # a reviewer: no add_policyproposal
    with pytest.raises(NotAllowed, match="add_policyproposal"):
        policy_proposal_create(plan=plan(OPS_5D), proposer=bob, source="admin")
    path = tmp_path / "p.yaml"
    path.write_text(OPS_5D)
    with pytest.raises(CommandError, match="add_policyproposal"):
        call_command("apply_policies", str(path), "--propose", "--as", "bob")
    assert not PolicyProposal.objects.exists()


# L1: the CLI's proposer is named, not signed in: the record keeps who ran the command.


def test_a_cli_proposal_records_the_os_user_that_ran_it(approvers, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUDO_USER", "mallory")
    path = tmp_path / "p.yaml"
    path.write_text(OPS_5D)
    call_command("apply_policies", str(path), "--propose", "--as", "dana")
    proposal = PolicyProposal.objects.get()
    assert proposal.origin.startswith("os user ") and "sudo by mallory" in proposal.origin
    assert "named on the command line" in capsys.readouterr().out
    event = AuditEvent.objects.get(action="policy_proposal.created")
    assert event.data["origin"] == proposal.origin
    from requests_app.api.serializers.proposals import PolicyProposalSerializer

    answer = PolicyProposalSerializer(proposal).data  # what the API answers
    assert (answer["source"], answer["origin"]) == ("cli", proposal.origin)


# H1: a created document shows its contents, not one `created` line.


def test_a_new_role_and_user_show_every_field(approvers):
    lines = policy_change_preview(plan=plan(GOD)).lines()
    assert "role god: created" in lines
    assert "role god: spec.allow.permissions: + policies_app.approve_policyproposal" in lines
    assert "role god: spec.allow.request.roles: + *" in lines
    assert "user zed: created" in lines  # a new account, holding the role
    assert "user zed: roles: + god" in lines


# L3: the demo loads with the rule on.


def test_demo_setup_loads_under_the_two_person_rule(db, settings, capsys):
    settings.DEBUG = True
    settings.POLICY_CHANGES_REQUIRE_APPROVAL = True
    call_command("demo_setup")
    assert Role.objects.filter(name="sre-lead").exists()
    assert not PolicyProposal.objects.exists()
