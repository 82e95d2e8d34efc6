"""Fixes from the access review code review (review-campaigns.md): a reviewer who lost
eligibility, long reasons in the PDF, missed items in the audit chain, runs nobody can
review, holds released through a service, holds kept through unrelated role edits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accessportal.kernel.errors import NotFound, ValidationFailed
from accessportal.kernel.models import AuditEvent
from policies_app.models import RoleMembership
from requests_app.models import OutboxMessage
from requests_app.selectors.access_reviews import campaign_items_to_decide
from requests_app.services.access_review_reports import report_pdf
from requests_app.services.access_reviews import (
    access_reviews_due,
    campaign_item_decide,
    campaign_start,
)
from tests.requests_app.access_reviews.conftest import review_policy

pytestmark = pytest.mark.django_db


def _start(user, name="reviewers-recert"):
    return campaign_start(review_name=name, actor=user("sam"))


def _item(run, username, role="reviewer"):
    return run.items.get(user__username=username, role=role)


# F2: eligibility is current, not only the snapshot taken at the start.
def test_a_reviewer_who_lost_the_reviewer_role_mid_run_decides_nothing(review_setup, user):
    run = _start(user)
    assert [i.user.username for i in campaign_items_to_decide(user("carol"))] == ["bob"]
    # bob removes carol's membership of `reviewer`, the role that made her a reviewer.
    campaign_item_decide(
        item_id=_item(run, "carol").pk, reviewer=user("bob"), decision="REMOVE", reason="left"
    )
    # carol no longer has anything to decide, and may not keep or remove bob's membership.
    assert list(campaign_items_to_decide(user("carol"))) == []
    with pytest.raises(NotFound):
        campaign_item_decide(
            item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="REMOVE", reason="x"
        )
    client = APIClient()
    client.force_authenticate(user("carol"))
    answer = client.post(
        f"/api/v1/access-reviews/items/{_item(run, 'bob').pk}/remove/", {"reason": "x"}
    )
    assert answer.status_code == 404
    assert RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()
    # Her own item (read-only) she still sees.
    mine = client.get(f"/api/v1/access-reviews/items/{_item(run, 'carol').pk}/")
    assert mine.status_code == 200 and mine.json()["outcome"] == "removed"


def test_a_reviewer_dropped_from_the_definition_mid_run_decides_nothing(apply_yaml, user):
    by_name = "  reviewer_roles: [reviewer]\n"
    apply_yaml(review_policy().replace(by_name, by_name + "  reviewers: [erin]\n"))
    run = _start(user)
    assert [i.user.username for i in campaign_items_to_decide(user("erin"))] == ["bob", "carol"]
    apply_yaml(review_policy())  # an approved policy change drops dave
    assert list(campaign_items_to_decide(user("erin"))) == []
    with pytest.raises(NotFound):
        campaign_item_decide(
            item_id=_item(run, "bob").pk, reviewer=user("erin"), decision="KEEP", reason="x"
        )


# F4: one long reason does not break the auditors' PDF.
def test_pdf_report_with_a_two_thousand_character_reason(review_setup, user):
    run = _start(user)
    reason = ("word " * 400).strip()[:2000]
    campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="KEEP", reason=reason
    )
    assert report_pdf(run).startswith(b"%PDF")
    client = APIClient()
    client.force_authenticate(user("ada"))
    answer = client.get(
        f"/api/v1/access-reviews/runs/{run.pk}/report/", HTTP_ACCEPT="application/pdf"
    )
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    # The CSV keeps the whole reason.
    csv = client.get(f"/api/v1/access-reviews/runs/{run.pk}/report/", HTTP_ACCEPT="text/csv")
    assert reason in csv.content.decode()


# F5: what the deadline did to each item is in the audit chain.
@pytest.mark.parametrize("on_missed", ["keep", "notify", "remove"])
def test_each_missed_item_is_audited(apply_yaml, user, on_missed):
    apply_yaml(review_policy(on_missed=on_missed))
    run = _start(user)
    access_reviews_due(now=run.deadline + timedelta(minutes=1))
    events = AuditEvent.objects.filter(action="access_review.missed", target_id=str(run.pk))
    assert {(e.data["user"], e.data["role"]) for e in events} == {
        ("bob", "reviewer"),
        ("carol", "reviewer"),
    }
    outcome = {"keep": "missed_kept", "notify": "missed_notified", "remove": "missed_removed"}
    assert {e.data["outcome"] for e in events} == {outcome[on_missed]}
    assert all(e.actor_id is None for e in events)


# F6: a review whose reviewers resolve to nobody does not strip every member at the deadline.
TYPO_REVIEW = """
---
kind: access_review
name: typo-recert
spec:
  roles: [reviewer]
  reviewers: [nobdy]
  duration: 7d
  on_missed: remove
"""


def test_a_run_nobody_can_review_keeps_its_members_and_tells_the_admins(apply_yaml, user, admin):
    apply_yaml(review_policy(extra=TYPO_REVIEW))
    run = _start(user, "typo-recert")
    assert run.reviewers.count() == 0
    started = AuditEvent.objects.get(action="access_review.started", target_id=str(run.pk))
    assert started.data["reviewers"] == 0
    access_reviews_due(now=run.deadline + timedelta(minutes=1))
    run.refresh_from_db()
    assert run.state == "CLOSED"
    assert set(run.items.values_list("outcome", flat=True)) == {"missed_notified"}
    assert "no reviewer" in _item(run, "bob").note
    assert RoleMembership.objects.filter(role__name="reviewer").count() == 2
    told = OutboxMessage.objects.get(event="access_review.missed")
    assert told.recipients == ["root"]


def test_an_item_whose_member_is_the_only_reviewer_is_not_removed(apply_yaml, user):
    only_bob = TYPO_REVIEW.replace("[nobdy]", "[bob]")
    apply_yaml(review_policy(extra=only_bob))
    run = _start(user, "typo-recert")
    access_reviews_due(now=run.deadline + timedelta(minutes=1))
    # carol's item had a reviewer (bob) who let it lapse: removed; bob's had nobody.
    assert _item(run, "carol").outcome == "missed_removed"
    assert _item(run, "bob").outcome == "missed_notified"
    assert RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()


# F1: a hold ends through a service: another person, a reason, an audit event.
def _hold_on_bob(user):
    from policies_app.models import MembershipHold

    run = _start(user)
    campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="REMOVE", reason="left"
    )
    return MembershipHold.objects.get(user=user("bob"))


def test_releasing_a_hold_is_audited_and_the_next_apply_gives_the_role_back(
    review_setup, user, admin, apply_yaml
):
    from accessportal.kernel.errors import ReasonRequired
    from policies_app.services.memberships import membership_hold_release

    hold = _hold_on_bob(user)
    with pytest.raises(ReasonRequired):
        membership_hold_release(hold_id=hold.pk, actor=admin, reason=" ")
    membership_hold_release(hold_id=hold.pk, actor=admin, reason="back on the team, CHG-7")
    event = AuditEvent.objects.get(action="membership.hold_released", target_id="bob")
    assert event.data["reason"] == "back on the team, CHG-7" and event.actor_id == admin.pk
    assert "reviewers-recert" in event.data["removed_by"]
    apply_yaml(review_policy())
    assert RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()


def test_nobody_releases_their_own_hold_superusers_included(review_setup, user):
    from django.contrib.auth import get_user_model

    from accessportal.kernel.errors import NotAllowed, SelfReviewRefused
    from policies_app.models import MembershipHold
    from policies_app.services.memberships import membership_hold_release

    hold = _hold_on_bob(user)
    with pytest.raises(NotAllowed):  # carol holds no permission to release
        membership_hold_release(hold_id=hold.pk, actor=user("carol"), reason="x")
    get_user_model().objects.filter(username="bob").update(is_superuser=True)
    with pytest.raises(SelfReviewRefused):
        membership_hold_release(hold_id=hold.pk, actor=user("bob"), reason="I need it")
    assert MembershipHold.objects.filter(pk=hold.pk).exists()


def test_the_admin_has_no_plain_delete_of_holds_only_release(client, review_setup, user, admin):
    from policies_app.models import MembershipHold

    hold = _hold_on_bob(user)
    client.force_login(admin)
    base = "/admin/policies_app/membershiphold/"
    listing = client.get(base)
    assert listing.status_code == 200
    assert b"delete_selected" not in listing.content and b'value="release"' in listing.content
    assert client.post(f"{base}{hold.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(base, {"action": "delete_selected", "_selected_action": [hold.pk], "post": "yes"})
    assert MembershipHold.objects.filter(pk=hold.pk).exists()
    client.post(base, {"action": "release", "_selected_action": [hold.pk], "reason": ""})
    assert MembershipHold.objects.filter(pk=hold.pk).exists()  # a reason is required
    client.post(base, {"action": "release", "_selected_action": [hold.pk], "reason": "CHG-7"})
    assert not MembershipHold.objects.filter(pk=hold.pk).exists()
    assert AuditEvent.objects.filter(action="membership.hold_released").count() == 1


def test_a_hold_that_ends_because_the_files_stop_naming_the_role_is_audited(
    review_setup, user, apply_yaml
):
    _hold_on_bob(user)
    apply_yaml(review_policy().replace("name: bob\nroles: [reviewer]", "name: bob\nroles: []"))
    event = AuditEvent.objects.get(action="membership.hold_ended", target_id="bob")
    assert event.data["role"] == "reviewer"


# F3: a role edit for a held user, from the admin, keeps the hold; a proposal from the files
# does not show the held role as a re-grant.
def test_an_unrelated_role_edit_keeps_the_hold_and_the_files_do_not_give_it_back(
    review_setup, user, apply_yaml
):
    from policies_app.models import MembershipHold, Role
    from policies_app.services.roles_resources import role_save

    _hold_on_bob(user)
    engineer = Role.objects.get(name="engineer")
    role_save(
        doc={"kind": "role", "name": "engineer", "spec": engineer.spec},
        actor=None,
        members=[user("alice"), user("bob")],
    )
    assert RoleMembership.objects.filter(user=user("bob"), role__name="engineer").exists()
    assert MembershipHold.objects.filter(user=user("bob"), role__name="reviewer").exists()
    # The files, which still name bob's reviewer role, do not give it back: drift.
    summary = apply_yaml(
        review_policy().replace("roles: [reviewer]\n", "roles: [reviewer, engineer]\n", 1)
    )
    assert any("drift user bob: role reviewer" in line for line in summary.lines())
    assert not RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()


def test_a_proposal_from_files_naming_a_held_role_is_not_a_re_grant(review_setup, user):
    from policies_app.loader import plan_from_texts
    from policies_app.services.export import policies_export_documents
    from policies_app.services.proposals import policy_change_preview

    _hold_on_bob(user)
    bob = next(d for d in policies_export_documents() if d.get("name") == "bob")
    assert bob["roles"] == ["reviewer"]
    preview = policy_change_preview(plan=plan_from_texts([("t.yaml", review_policy())]))
    assert not [line for line in preview.lines() if "user bob" in line]


def test_a_misspelt_reviewer_role_is_refused_by_the_loader(apply_yaml):
    from policies_app.loader import PolicyFileError
    from policies_app.models import AccessReview

    with pytest.raises(PolicyFileError) as err:
        apply_yaml(
            review_policy().replace("reviewer_roles: [reviewer]", "reviewer_roles: [reviwer]")
        )
    assert "spec.reviewer_roles: no role named 'reviwer'" in str(err.value)
    assert not AccessReview.objects.exists()


# F8: one item whose removal fails does not stop the sweep for the others.
def test_one_failing_removal_does_not_stop_the_sweep(apply_yaml, user, monkeypatch):
    from policies_app.services import memberships
    from requests_app.services import access_reviews

    apply_yaml(review_policy(on_missed="remove"))
    run = _start(user)
    real = memberships.membership_remove

    def failing_for_bob(*, user, **kwargs):  # a provisioning error while removing bob
        if user.username == "bob":
            raise RuntimeError("provisioner down")
        return real(user=user, **kwargs)

    monkeypatch.setattr(access_reviews, "membership_remove", failing_for_bob)
    result = access_reviews_due(now=run.deadline + timedelta(minutes=1))
    assert result["closed"] == 0  # bob's item is still undecided: the run stays open
    assert _item(run, "carol").outcome == "missed_removed"
    assert _item(run, "bob").outcome == ""
    failed = AuditEvent.objects.get(action="access_review.sweep_failed")
    assert failed.data["step"] == "item" and "provisioner down" in failed.data["error"]
    monkeypatch.setattr(access_reviews, "membership_remove", real)
    assert access_reviews_due(now=run.deadline + timedelta(minutes=2))["closed"] == 1
    assert _item(run, "bob").outcome == "missed_removed"


# F9: a person called "system" is never taken for the sweep.
def test_a_user_named_system_is_not_counted_as_the_sweep(apply_yaml, user):
    extra = "\n---\nkind: user\nname: system\nroles: [reviewer]\n"
    apply_yaml(review_policy(on_missed="notify", extra=extra))
    run = _start(user)
    campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("system"), decision="KEEP", reason="ok"
    )
    access_reviews_due(now=run.deadline + timedelta(minutes=1))
    closed = AuditEvent.objects.get(action="access_review.closed", target_id=str(run.pk))
    assert closed.data["missed"] == 2  # carol's and system's own items, not bob's
    assert _item(run, "bob").decided_by == "system" and _item(run, "bob").outcome == "kept"


# F10: a review's history is evidence: deleting its member is refused.
def test_a_member_with_review_history_cannot_be_deleted(review_setup, user):
    from django.db.models import ProtectedError

    run = _start(user)
    campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="KEEP", reason="ok"
    )
    with pytest.raises(ProtectedError):
        user("bob").delete()
    assert _item(run, "bob").reason == "ok"



def test_a_decision_reason_follows_the_one_rule_for_reasons(review_setup, user):
    """No text-direction controls (a reason must read as the audit log records it), and the
    same length limit as every other reason (requests_app.services.text)."""
    run = _start(user)
    item = _item(run, "bob")
    with pytest.raises(ValidationFailed, match="text-direction control"):
        campaign_item_decide(
            item_id=item.pk, reviewer=user("carol"), decision="KEEP", reason="ok\u202eevil"
        )
    with pytest.raises(ValidationFailed, match="at most 4096"):
        campaign_item_decide(
            item_id=item.pk, reviewer=user("carol"), decision="KEEP", reason="x" * 4097
        )
    kept = campaign_item_decide(
        item_id=item.pk, reviewer=user("carol"), decision="KEEP", reason="y" * 3000
    )
    assert kept.outcome == "kept"
