"""The two-person rule in the admin desk: with POLICY_CHANGES_REQUIRE_APPROVAL on, saves of
roles, resources and rules become proposals; the review page shows the diff and lets another
person approve (applied) or reject; the proposer cannot decide their own."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accessportal.kernel.models import AuditEvent
from policies_app.models import NotificationRule, PolicyProposal, Resource, Role
from tests.policies import POLICY_APPROVER_ROLE
from tests.policies_app.test_admin import ROLE_ADD, form_data, role_change

APPROVER = (
    POLICY_APPROVER_ROLE
    + """
kind: user
name: dana
roles: [policy-approver]
"""
)


@pytest.fixture
def rule_on(settings, apply_yaml, base_policy):
    settings.POLICY_CHANGES_REQUIRE_APPROVAL = True
    apply_yaml(APPROVER)


def review_url(proposal: PolicyProposal) -> str:
    return reverse("admin:policies_app_policyproposal_change", args=[proposal.pk])


def decide_url(proposal: PolicyProposal) -> str:
    return reverse("admin:policies_app_policyproposal_decide", args=[proposal.pk])


def test_a_role_edit_becomes_a_proposal_and_saves_nothing(rule_on, root_client):
    role = Role.objects.get(name="engineer")
    before = role.spec
    response = root_client.post(role_change(role), form_data(role, max_duration="2d"))
    proposal = PolicyProposal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == review_url(proposal)
    role.refresh_from_db()
    assert role.spec == before
    assert not AuditEvent.objects.filter(action="role.updated", target_id="engineer").exists()
    assert proposal.source == "admin"
    assert "role engineer: spec.allow.request.max_duration: + 2d" in [
        line for line in _lines(root_client, proposal)
    ]


def _lines(client, proposal) -> list[str]:
    return client.get(review_url(proposal)).context["lines"]


def test_a_new_role_and_a_new_resource_become_proposals(rule_on, root_client):
    root_client.post(ROLE_ADD, form_data(name="oncall", request_roles="db-admin"))
    root_client.post(
        reverse("admin:policies_app_resource_add"),
        {"kind": "db", "name": "ledger", "labels": "env: prod", "description": ""},
    )
    assert not Role.objects.filter(name="oncall").exists()
    assert not Resource.objects.filter(kind="db", name="ledger").exists()
    docs = sorted(p.diff[0]["document"] for p in PolicyProposal.objects.all())
    assert docs == ["resource db/ledger", "role oncall"]


def test_a_notification_rule_becomes_a_proposal(rule_on, root_client):
    url = reverse("admin:policies_app_notificationrule_add")
    spec = "events: [request.created]\nchannels: [{type: email, to: [sec@example.com]}]"
    response = root_client.post(url, {"name": "sec", "description": "", "spec_yaml": spec})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not NotificationRule.objects.exists()
    assert PolicyProposal.objects.get().diff[0]["document"] == "notification_rule sec"


def test_deleting_is_not_offered_while_the_rule_is_on(rule_on, root_client):
    role = Role.objects.get(name="dev-admin")
    delete = reverse("admin:policies_app_role_delete", args=[role.pk])
    assert root_client.post(delete, {"post": "yes"}).status_code == 403
    assert Role.objects.filter(name="dev-admin").exists()


def test_proposer_cannot_approve_their_own_even_as_superuser(rule_on, root_client):
    role = Role.objects.get(name="engineer")
    before = role.spec
    root_client.post(role_change(role), form_data(role, max_duration="2d"))
    proposal = PolicyProposal.objects.get()
    page = root_client.get(review_url(proposal))
    assert page.context["may_decide"] is False
    assert "another person" in page.content.decode()
    root_client.post(decide_url(proposal), {"action": "approve"})
    proposal.refresh_from_db()
    assert proposal.state == "PENDING"
    assert Role.objects.get(name="engineer").spec == before


def test_another_approver_applies_it_from_the_review_page(rule_on, root_client, login):
    role = Role.objects.get(name="engineer")
    root_client.post(role_change(role), form_data(role, max_duration="2d"))
    proposal = PolicyProposal.objects.get()
    dana = login("dana")
    page = dana.get(review_url(proposal))
    assert page.status_code == 200
    assert page.context["may_decide"] is True
    assert "spec.allow.request.max_duration: + 2d" in page.content.decode()
    response = dana.post(decide_url(proposal), {"action": "approve", "reason": "CHG-1"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decided_by.username) == ("APPLIED", "dana")
    role.refresh_from_db()
    assert role.spec["allow"]["request"]["max_duration"] == 2 * 86400
    event = AuditEvent.objects.get(action="policy_proposal.applied")
    assert (event.data["proposed_by"], event.data["approved_by"]) == ("root", "dana")


def test_reject_from_the_review_page_needs_a_reason(rule_on, root_client, login):
    role = Role.objects.get(name="engineer")
    root_client.post(role_change(role), form_data(role, max_duration="2d"))
    proposal = PolicyProposal.objects.get()
    dana = login("dana")
    dana.post(decide_url(proposal), {"action": "reject", "reason": ""})
    proposal.refresh_from_db()
    assert proposal.state == "PENDING"
    dana.post(decide_url(proposal), {"action": "reject", "reason": "not now"})
    proposal.refresh_from_db()
    assert (proposal.state, proposal.decision_reason) == ("REJECTED", "not now")


def test_staff_without_the_permission_do_not_see_others_proposals(rule_on, root_client, login):
    role = Role.objects.get(name="engineer")
    root_client.post(role_change(role), form_data(role, max_duration="2d"))
    proposal = PolicyProposal.objects.get()
    bob = login("bob")
    assert bob.get(review_url(proposal)).status_code in (302, 403, 404)
    assert bob.post(decide_url(proposal), {"action": "approve"}).status_code in (302, 403)
    proposal.refresh_from_db()
    assert proposal.state == "PENDING"


def test_with_the_rule_off_admin_saves_directly(settings, root_client, base_policy):
    role = Role.objects.get(name="engineer")
    root_client.post(role_change(role), form_data(role, max_duration="2d"))
    role.refresh_from_db()
    assert role.spec["allow"]["request"]["max_duration"] == 2 * 86400
    assert not PolicyProposal.objects.exists()


def test_the_review_page_shows_what_a_new_role_grants(rule_on, login, user):
    # Review H1: a created role is every one of its fields, not one "created" line.
    from policies_app.loader import plan_from_texts
    from policies_app.services.proposals import policy_proposal_create

    text = (
        "kind: role\nname: god\nspec:\n  allow:\n"
        "    permissions: [policies_app.approve_policyproposal]\n"
        '    request: {roles: ["*"]}\n---\nkind: user\nname: mallory\nroles: [god]\n'
    )
    proposal = policy_proposal_create(
        plan=plan_from_texts([("t.yaml", text)]), proposer=user("dana"), source="api"
    )
    page = login("dana").get(review_url(proposal)).content.decode()
    assert "role god: created" in page
    assert "role god: spec.allow.permissions: + policies_app.approve_policyproposal" in page
    assert "user mallory: roles: + god" in page


def test_a_malformed_proposal_id_is_404_not_500(rule_on, root_client):
    # Review M3.
    url = reverse("admin:policies_app_policyproposal_changelist") + "abc/change/"
    assert root_client.get(url).status_code == 404


def test_a_superuser_is_not_offered_the_decision_without_the_standing_role(
    rule_on, root_client, user
):
    # Review M1: the superuser flag is not the approve right.
    from policies_app.loader import plan_from_texts
    from policies_app.services.proposals import policy_proposal_create

    role = Role.objects.get(name="engineer")
    proposal = policy_proposal_create(
        plan=plan_from_texts([("t.yaml", "kind: role\nname: engineer\ndescription: x\n")]),
        proposer=user("dana"),
        source="api",
    )
    page = root_client.get(review_url(proposal))
    assert page.context["may_decide"] is False
    assert "from a standing role" in page.content.decode()
    root_client.post(decide_url(proposal), {"action": "approve"})
    proposal.refresh_from_db()
    assert proposal.state == "PENDING"
    assert Role.objects.get(name="engineer").spec == role.spec


def test_a_cli_proposal_says_its_proposer_is_unverified(rule_on, root_client, tmp_path):
    # Review L1.
    from django.core.management import call_command

    path = tmp_path / "p.yaml"
    path.write_text("kind: role\nname: engineer\ndescription: from the shell\n")
    call_command("apply_policies", str(path), "--propose", "--as", "dana")
    proposal = PolicyProposal.objects.get()
    page = root_client.get(review_url(proposal)).content.decode()
    assert "Proposer named on the command line, unverified" in page
    assert proposal.origin in page
