"""The two-person rule for policy changes: propose, approve (by someone else), stale,
reject, withdraw; the field-level diff; the setting guarding apply_policies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accessportal.kernel.errors import (
    NotAllowed,
    NotFound,
    ProposalNotPending,
    ProposalStale,
    ReasonRequired,
    SelfApprovalRefused,
    Unprocessable,
)
from accessportal.kernel.models import AuditEvent
from policies_app.loader import plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.policy_diff import documents_diff
from policies_app.services.proposals import (
    policy_change_preview,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
    policy_proposal_withdraw,
)
from tests.conftest import BASE_POLICY
from tests.policies import POLICY_APPROVER_ROLE
from tests.policies_app.test_loader import GOOD

APPROVERS = (
    POLICY_APPROVER_ROLE
    + """
kind: user
name: dana
roles: [policy-approver]
---
kind: user
name: erik
roles: [policy-approver]
"""
)

OPS_3D = """
kind: role
name: ops
spec:
  allow:
    request:
      roles: [db-admin]
      max_duration: 3d
"""
OPS_5D = OPS_3D.replace("3d", "5d").replace("[db-admin]", "[db-admin, dev-admin]")


def plan(text: str):
    return plan_from_texts([("test.yaml", textwrap.dedent(text))])


@pytest.fixture
def approvers(base_policy, apply_yaml, user):
    apply_yaml(APPROVERS + "---\n" + OPS_3D)
    return user("dana"), user("erik")


def max_duration(name="ops") -> int:
    return Role.objects.get(name=name).spec["allow"]["request"]["max_duration"]


def test_diff_names_each_changed_field_and_list_item(approvers):
    lines = policy_change_preview(plan=plan(OPS_5D)).lines()
    assert lines == [
        "role ops: spec.allow.request.roles: + dev-admin",
        "role ops: spec.allow.request.max_duration: 3d → 5d",
    ]


def test_diff_of_what_is_stored_is_empty(approvers):
    assert policy_change_preview(plan=plan(OPS_3D)).lines() == []


def test_diff_with_prune_lists_deletions_and_new_documents(approvers):
    text = OPS_3D + "---\nkind: role\nname: fresh\n"
    lines = policy_change_preview(plan=plan(text), prune=True).lines()
    assert "role fresh: created" in lines
    assert "role engineer: deleted" in lines
    assert not any(line.startswith("user ") for line in lines)  # users are never pruned


def test_pure_diff_handles_added_removed_and_reordered():
    before = {"role a": {"kind": "role", "spec": {"x": 1, "l": [1, 2]}}}
    after = {"role a": {"kind": "role", "spec": {"y": 2, "l": [2, 1]}}}
    lines = [c.line() for c in documents_diff(before, after)]
    assert lines == [
        "role a: spec.x: - 1",
        "role a: spec.l: [1, 2] → [2, 1]",
        "role a: spec.y: + 2",
    ]


@pytest.mark.parametrize("superuser", [False, True])
def test_proposer_never_approves_their_own_change(approvers, superuser):
    dana, _ = approvers
    dana.is_superuser = superuser
    dana.save()
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="cli")
    with pytest.raises(SelfApprovalRefused):
        policy_proposal_approve(proposal_id=proposal.pk, approver=dana)
    with pytest.raises(SelfApprovalRefused):
        policy_proposal_reject(proposal_id=proposal.pk, approver=dana, reason="no")
    assert max_duration() == 3 * 86400
    proposal.refresh_from_db()
    assert proposal.state == PolicyProposal.State.PENDING


def test_another_approver_applies_it_and_the_audit_names_both(approvers):
    dana, erik = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    policy_proposal_approve(proposal_id=proposal.pk, approver=erik, reason="CHG-42")
    assert max_duration() == 5 * 86400
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decided_by, proposal.decision_reason) == (
        "APPLIED",
        erik,
        "CHG-42",
    )
    event = AuditEvent.objects.get(action="policy_proposal.applied")
    assert event.data["proposed_by"] == "dana"
    assert event.data["approved_by"] == "erik"
    assert "role ops: spec.allow.request.max_duration: 3d → 5d" in event.data["diff"]
    updated = AuditEvent.objects.filter(action="role.updated", target_id="ops").latest("id")
    assert updated.actor_id == erik.pk


def test_someone_without_the_permission_cannot_decide(approvers, user):
    dana, _ = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    with pytest.raises(NotFound):  # not even seen
        policy_proposal_approve(proposal_id=proposal.pk, approver=user("alice"))
    assert max_duration() == 3 * 86400


def test_stale_proposal_is_refused_and_nothing_is_applied(approvers, apply_yaml):
    dana, erik = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    apply_yaml(OPS_3D.replace("3d", "4d"))  # the policy moves under it
    with pytest.raises(ProposalStale, match="role ops"):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)
    assert max_duration() == 4 * 86400
    proposal.refresh_from_db()
    assert proposal.state == PolicyProposal.State.STALE
    assert AuditEvent.objects.filter(action="policy_proposal.stale").exists()
    with pytest.raises(ProposalNotPending):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)


def test_a_change_to_an_untouched_document_does_not_make_it_stale(approvers, apply_yaml):
    dana, erik = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    apply_yaml("kind: role\nname: unrelated\n")
    policy_proposal_approve(proposal_id=proposal.pk, approver=erik)
    assert max_duration() == 5 * 86400


def test_prune_proposal_goes_stale_when_a_document_appears(approvers, apply_yaml):
    dana, erik = approvers
    text = "\n---\n".join([OPS_3D, APPROVERS.split("---")[0]])
    proposal = policy_proposal_create(plan=plan(text), proposer=dana, prune=True, source="cli")
    apply_yaml("kind: role\nname: newcomer\n")
    with pytest.raises(ProposalStale, match="role newcomer"):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)
    assert Role.objects.filter(name="engineer").exists()


def test_reject_needs_a_reason_and_changes_nothing(approvers):
    dana, erik = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    with pytest.raises(ReasonRequired):
        policy_proposal_reject(proposal_id=proposal.pk, approver=erik, reason=" ")
    policy_proposal_reject(proposal_id=proposal.pk, approver=erik, reason="too long")
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decision_reason) == ("REJECTED", "too long")
    assert max_duration() == 3 * 86400
    with pytest.raises(ProposalNotPending):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)


def test_only_the_proposer_withdraws(approvers):
    dana, erik = approvers
    proposal = policy_proposal_create(plan=plan(OPS_5D), proposer=dana, source="api")
    with pytest.raises(NotAllowed):
        policy_proposal_withdraw(proposal_id=proposal.pk, user=erik)
    policy_proposal_withdraw(proposal_id=proposal.pk, user=dana)
    proposal.refresh_from_db()
    assert proposal.state == "WITHDRAWN"
    with pytest.raises(ProposalNotPending):
        policy_proposal_approve(proposal_id=proposal.pk, approver=erik)


def test_a_proposal_that_changes_nothing_is_refused(approvers):
    dana, _ = approvers
    with pytest.raises(Unprocessable):
        policy_proposal_create(plan=plan(OPS_3D), proposer=dana, source="api")


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_dry_run_prints_the_field_level_diff(approvers, tmp_path, capsys):
    call_command("apply_policies", write(tmp_path, OPS_5D), "--dry-run")
    out = capsys.readouterr().out
    assert "role ops: spec.allow.request.max_duration: 3d → 5d" in out
    assert "role ops: spec.allow.request.roles: + dev-admin" in out
    assert max_duration() == 3 * 86400


def test_propose_command_prints_id_and_diff(approvers, tmp_path, capsys):
    call_command("apply_policies", write(tmp_path, OPS_5D), "--propose", "--as", "dana")
    out = capsys.readouterr().out
    proposal = PolicyProposal.objects.get()
    assert f"proposal {proposal.pk}" in out
    assert "3d → 5d" in out
    assert (proposal.proposed_by.username, proposal.source) == ("dana", "cli")
    assert max_duration() == 3 * 86400


def test_setting_on_refuses_a_direct_apply_and_points_at_propose(approvers, tmp_path, settings):
    settings.POLICY_CHANGES_REQUIRE_APPROVAL = True
    with pytest.raises(CommandError, match="--propose"):
        call_command("apply_policies", write(tmp_path, OPS_5D))
    assert max_duration() == 3 * 86400
    call_command("apply_policies", write(tmp_path, OPS_5D), "--dry-run")  # still allowed
    call_command("apply_policies", write(tmp_path, OPS_5D), "--propose", "--as", "dana")
    assert PolicyProposal.objects.filter(state="PENDING").count() == 1


@pytest.mark.parametrize("which", ["demo", "base", "loader-good"])
def test_a_policy_applied_then_proposed_again_shows_no_change(db, apply_yaml, which):
    """Proposed and stored documents are compared in one canonical form: no phantom lines."""
    text = {
        "demo": (Path(settings.BASE_DIR) / "examples" / "demo.yaml").read_text(),
        "base": BASE_POLICY,
        "loader-good": GOOD,
    }[which]
    apply_yaml(text)
    assert policy_change_preview(plan=plan(text)).lines() == []
