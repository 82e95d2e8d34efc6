"""The two-person rule in the admin desk, in a real browser: bob proposed a change to the
engineer role (the rule is on); carol, who holds the approve permission, opens the proposal,
reads the field-level diff, approves it with a reason and sees it applied."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from policies_app.loader import plan_from_files, plan_from_texts
from policies_app.models import PolicyProposal, Role
from policies_app.services.apply import policies_apply
from policies_app.services.proposals import policy_proposal_create
from tests.policies import POLICY_APPROVER_ROLE

APPROVER = (
    POLICY_APPROVER_ROLE
    + """
kind: user
name: carol
email: carol@example.com
roles: [sre-lead, policy-approver]
"""
)
CHANGE = """
kind: role
name: engineer
description: Every engineer. May ask for elevated roles and for production nodes.
spec:
  allow:
    request:
      roles: [dev-admin, db-admin]
      search_as_roles: [prod-node-access]
      suggested_reviewers: [bob, carol]
      max_duration: 12h
      reason: {mode: required, prompt: "Ticket number and why you need it"}
"""


@pytest.fixture
def proposed(transactional_db, web_user, settings):
    settings.POLICY_CHANGES_REQUIRE_APPROVAL = True
    policies_apply(plan=plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"]))
    policies_apply(plan=plan_from_texts([("approver.yaml", APPROVER)]))
    bob = web_user("bob", staff=True)
    web_user("carol", staff=True)
    return policy_proposal_create(
        plan=plan_from_texts([("change.yaml", CHANGE)]),
        proposer=bob,
        source="admin",
        summary="CHG-77: engineers may keep access for a 12h shift",
    )


def test_approver_reads_the_diff_approves_and_sees_it_applied(page, admin_login, proposed, shots):
    admin_login(page, "carol")
    page.goto("/admin/policies_app/policyproposal/")
    page.get_by_role("link", name=str(proposed.pk)).first.click()
    diff = page.locator("#proposal-diff")
    expect(diff).to_contain_text("role engineer: spec.allow.request.max_duration: 8h → 12h")
    expect(diff).to_contain_text("role engineer: spec.allow.request.suggested_reviewers: + carol")
    expect(page.locator("#proposal-state")).to_have_text("PENDING")
    page.fill("#id_reason", "CHG-77 agreed in the change board")
    page.screenshot(path=str(shots / "admin-policy-proposal.png"), full_page=True)
    page.get_by_role("button", name="Approve and apply").click()
    expect(page.locator("#proposal-state")).to_have_text("APPLIED")
    expect(page.locator(".messagelist")).to_contain_text("Applied")
    expect(page.locator("#content-main")).to_contain_text("Decided by carol")
    page.screenshot(path=str(shots / "admin-policy-proposal-applied.png"), full_page=True)
    request = Role.objects.get(name="engineer").spec["allow"]["request"]
    assert request["max_duration"] == 12 * 3600
    assert PolicyProposal.objects.get().state == "APPLIED"


def test_proposer_sees_no_approve_button(page, admin_login, proposed):
    admin_login(page, "bob")
    page.goto(f"/admin/policies_app/policyproposal/{proposed.pk}/change/")
    expect(page.locator("#proposal-diff")).to_contain_text("8h → 12h")
    expect(page.get_by_role("button", name="Approve and apply")).to_have_count(0)
    expect(page.get_by_role("button", name="Withdraw")).to_have_count(1)
