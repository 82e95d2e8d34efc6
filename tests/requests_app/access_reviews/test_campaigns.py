"""Access reviews: a run's items, decisions, the deadline, drift, schedules, reports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from accessportal.kernel.errors import Conflict, NotFound, SelfReviewRefused
from accessportal.kernel.models import AuditEvent
from policies_app.models import MembershipHold, RoleMembership
from requests_app.models import CampaignRun, OutboxMessage
from requests_app.selectors import eligible_reviewers
from requests_app.services.access_requests import access_request_create
from requests_app.services.access_review_reports import csv_cell, report_csv, report_pdf
from requests_app.services.access_reviews import (
    access_reviews_due,
    campaign_item_decide,
    campaign_start,
)
from tests.requests_app.access_reviews.conftest import review_policy

pytestmark = pytest.mark.django_db


def _item(run, username, role="reviewer"):
    return run.items.get(user__username=username, role=role)


def _start(user):
    return campaign_start(review_name="reviewers-recert", actor=user("sam"))


def test_start_snapshots_each_membership_in_scope_with_its_reviewers(review_setup, user):
    run = _start(user)
    items = {(i.user.username, i.role): i for i in run.items.all()}
    assert set(items) == {("bob", "reviewer"), ("carol", "reviewer")}
    # bob and carol review the run; bob sees carol's membership and carol bob's.
    assert {u.username for u in run.reviewers.all()} == {"bob", "carol"}
    from requests_app.selectors.access_reviews import campaign_items_to_decide

    assert [i.user.username for i in campaign_items_to_decide(user("bob"))] == ["carol"]
    assert [i.user.username for i in campaign_items_to_decide(user("carol"))] == ["bob"]
    assert AuditEvent.objects.filter(action="access_review.started").count() == 1
    started = OutboxMessage.objects.get(event="access_review.started")
    assert started.recipients == ["bob", "carol"]


def test_starting_by_hand_needs_the_permission(review_setup, user):
    from accessportal.kernel.errors import NotAllowed

    with pytest.raises(NotAllowed):
        campaign_start(review_name="reviewers-recert", actor=user("alice"))
    assert not CampaignRun.objects.exists()


def test_keep_and_remove_by_an_eligible_reviewer(review_setup, user):
    run = _start(user)
    kept = campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="KEEP", reason="on team"
    )
    assert kept.outcome == "kept" and kept.decided_by == "carol"
    removed = campaign_item_decide(
        item_id=_item(run, "carol").pk, reviewer=user("bob"), decision="REMOVE", reason="left"
    )
    assert removed.outcome == "removed"
    assert not RoleMembership.objects.filter(user=user("carol"), role__name="reviewer").exists()
    event = AuditEvent.objects.get(action="membership.removed")
    assert event.actor_name == "bob" if hasattr(event, "actor_name") else True
    assert event.data["role"] == "reviewer" and event.data["reason"] == "left"


def test_member_is_refused_on_their_own_membership_superuser_too(review_setup, user, admin):
    RoleMembership.objects.create(user=admin, role_id=user("bob").standing_roles.get().pk)
    run = _start(user)
    with pytest.raises(SelfReviewRefused):
        campaign_item_decide(
            item_id=_item(run, "root").pk, reviewer=admin, decision="KEEP", reason="me"
        )
    # bob sees his own item (it is about him) but may not decide it.
    with pytest.raises(SelfReviewRefused):
        campaign_item_decide(
            item_id=_item(run, "bob").pk, reviewer=user("bob"), decision="KEEP", reason="me"
        )
    assert not run.items.exclude(outcome="").exists()


def test_second_decision_is_refused_with_409(review_setup, user):
    run = _start(user)
    item = _item(run, "bob")
    campaign_item_decide(item_id=item.pk, reviewer=user("carol"), decision="KEEP", reason="ok")
    with pytest.raises(Conflict):
        campaign_item_decide(item_id=item.pk, reviewer=user("carol"), decision="REMOVE", reason="x")
    client = APIClient()
    client.force_authenticate(user("carol"))
    answer = client.post(
        f"/api/v1/access-reviews/items/{item.pk}/remove/", {"reason": "again"}, format="json"
    )
    assert answer.status_code == 409
    assert RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()


def test_unseen_item_is_404(review_setup, user):
    run = _start(user)
    item = _item(run, "bob")
    with pytest.raises(NotFound):
        campaign_item_decide(item_id=item.pk, reviewer=user("mallory"), decision="KEEP", reason="x")
    client = APIClient()
    client.force_authenticate(user("mallory"))
    assert client.get(f"/api/v1/access-reviews/items/{item.pk}/").status_code == 404
    assert (
        client.post(
            f"/api/v1/access-reviews/items/{item.pk}/keep/", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/access-reviews/runs/{run.pk}/report/").status_code == 404


def test_api_lists_my_open_items_and_decides_with_a_required_reason(review_setup, user):
    run = _start(user)
    client = APIClient()
    client.force_authenticate(user("carol"))
    listed = client.get("/api/v1/access-reviews/items/").json()
    assert [(i["user"], i["role"]) for i in listed["results"]] == [("bob", "reviewer")]
    item_id = listed["results"][0]["id"]
    no_reason = client.post(f"/api/v1/access-reviews/items/{item_id}/keep/", {}, format="json")
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    # bob on his own item: visible, refused.
    own = APIClient()
    own.force_authenticate(user("bob"))
    answer = own.post(
        f"/api/v1/access-reviews/items/{item_id}/keep/", {"reason": "me"}, format="json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "self_review"
    done = client.post(
        f"/api/v1/access-reviews/items/{item_id}/keep/", {"reason": "still reviews"}, format="json"
    )
    assert done.status_code == 200 and done.json()["outcome"] == "kept"
    assert client.get("/api/v1/access-reviews/items/").json()["results"] == []
    assert _item(run, "bob").decided_by == "carol"


def test_missed_deadline_removes_the_member_and_apply_reports_drift(review_setup, user, apply_yaml):
    pending = access_request_create(requester=user("alice"), roles=["db-admin"], reason="fix")
    assert {"bob", "carol"} <= set(eligible_reviewers(pending).values_list("username", flat=True))
    run = _start(user)
    campaign_item_decide(
        item_id=_item(run, "carol").pk, reviewer=user("bob"), decision="KEEP", reason="ok"
    )
    # Before the deadline nothing closes; after it the sweep removes bob (undecided).
    assert access_reviews_due(now=run.deadline - timedelta(hours=1))["closed"] == 0
    assert access_reviews_due(now=run.deadline + timedelta(minutes=1))["closed"] == 1
    assert access_reviews_due(now=run.deadline + timedelta(minutes=2))["closed"] == 0
    run.refresh_from_db()
    assert run.state == "CLOSED"
    bob_item = _item(run, "bob")
    assert bob_item.outcome == "missed_removed" and bob_item.decided_by == "system:access-reviews"
    assert not RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()
    event = AuditEvent.objects.get(action="membership.removed", target_id="bob")
    assert "reviewers-recert" in event.data["removed_by"] and event.actor_id is None
    # Who may review follows at once: bob no longer reviews alice's pending request.
    names = set(eligible_reviewers(pending).values_list("username", flat=True))
    assert "bob" not in names and "carol" in names
    # The file still names bob's role: drift, reported and audited, not added back.
    summary = apply_yaml(review_policy())
    assert any(
        "drift user bob: role reviewer was removed by access review reviewers-recert" in line
        for line in summary.lines()
    )
    assert AuditEvent.objects.filter(action="membership.drift", target_id="bob").count() == 1
    assert not RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()
    # Once the file stops naming it, the hold ends.
    apply_yaml(review_policy().replace("name: bob\nroles: [reviewer]", "name: bob\nroles: []"))
    assert not MembershipHold.objects.filter(user=user("bob")).exists()


def test_missed_with_keep_and_notify_keep_the_membership(apply_yaml, user):
    apply_yaml(review_policy(on_missed="notify"))
    run = _start(user)
    access_reviews_due(now=run.deadline)
    assert set(run.items.values_list("outcome", flat=True)) == {"missed_notified"}
    assert OutboxMessage.objects.filter(event="access_review.missed").exists()
    assert RoleMembership.objects.filter(role__name="reviewer").count() == 2


def test_reminder_before_the_deadline_is_sent_once(review_setup, user):
    run = _start(user)
    now = run.deadline - timedelta(hours=12)
    assert access_reviews_due(now=now)["reminded"] == 1
    assert access_reviews_due(now=now)["reminded"] == 0
    assert OutboxMessage.objects.filter(event="access_review.reminder").count() == 1


def test_schedule_starts_one_run_per_slot(apply_yaml, user):
    apply_yaml(
        review_policy(extra="").replace("  duration: 7d", "  schedule: '0 9 * * *'\n  duration: 7d")
    )
    from policies_app.models import AccessReview

    review = AccessReview.objects.get()
    AccessReview.objects.filter(pk=review.pk).update(created=datetime(2026, 1, 1, tzinfo=UTC))
    tick = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
    assert access_reviews_due(now=tick)["started"] == 1
    assert access_reviews_due(now=tick + timedelta(seconds=30))["started"] == 0
    assert CampaignRun.objects.count() == 1
    run = CampaignRun.objects.get()
    assert (
        run.scheduled_for == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        and run.started_by == "system:access-reviews"
    )
    # Two starts racing for one slot: the second writes nothing.
    assert campaign_start(review_name=review.name, scheduled_for=run.scheduled_for) is None
    assert access_reviews_due(now=tick + timedelta(days=1))["started"] == 1
    assert CampaignRun.objects.count() == 2


def test_scim_or_sso_membership_removed_is_reported_as_coming_back(review_setup, user):
    RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").update(
        sources=["policy", "sso:okta"]
    )
    run = _start(user)
    item = campaign_item_decide(
        item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="REMOVE", reason="moved"
    )
    assert "sso:okta gives it back" in item.note
    rows = list(csv.DictReader(io.StringIO(report_csv(run))))
    assert "sso:okta" in next(r for r in rows if r["user"] == "bob")["note"]


def test_report_csv_and_pdf_say_who_decided_what(review_setup, user):
    run = _start(user)
    campaign_item_decide(
        item_id=_item(run, "bob").pk,
        reviewer=user("carol"),
        decision="KEEP",
        reason="=HYPERLINK(1)",
    )
    rows = list(csv.DictReader(io.StringIO(report_csv(run))))
    bob = next(r for r in rows if r["user"] == "bob")
    assert bob["decision"] == "KEEP" and bob["decided_by"] == "carol" and bob["outcome"] == "kept"
    assert bob["reason"] == "'=HYPERLINK(1)"  # formula injection guarded
    assert next(r for r in rows if r["user"] == "carol")["outcome"] == "undecided"
    assert [csv_cell(v) for v in ("+1", "-1", "@x", "ok")] == ["'+1", "'-1", "'@x", "ok"]
    assert csv_cell("x;=cmd|' /C calc'!A0") == "x;'=cmd|' /C calc'!A0"  # after a separator too
    pdf = report_pdf(run)
    assert pdf.startswith(b"%PDF")
    # The auditor downloads both through the API; a reviewer may not.
    client = APIClient()
    client.force_authenticate(user("ada"))
    as_csv = client.get(f"/api/v1/access-reviews/runs/{run.pk}/report/", HTTP_ACCEPT="text/csv")
    assert as_csv.status_code == 200 and "'=HYPERLINK(1)" in as_csv.content.decode()
    as_pdf = client.get(
        f"/api/v1/access-reviews/runs/{run.pk}/report/", HTTP_ACCEPT="application/pdf"
    )
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")
    as_json = client.get(f"/api/v1/access-reviews/runs/{run.pk}/report/").json()
    assert {r["user"] for r in as_json} == {"bob", "carol"}
    reviewer = APIClient()
    reviewer.force_authenticate(user("carol"))
    assert reviewer.get(f"/api/v1/access-reviews/runs/{run.pk}/report/").status_code == 404


def test_access_review_document_errors_are_named(apply_yaml):
    from policies_app.loader import PolicyFileError

    bad = """
kind: access_review
name: bad
spec:
  roles: [x]
  schedule: "every tuesday"
  on_missed: delete
"""
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(bad)
    text = str(err.value)
    assert "spec.schedule" in text and "spec.on_missed" in text and "name who reviews" in text


def test_export_writes_access_reviews_back_as_applied(apply_yaml):
    import yaml

    from policies_app.loader import plan_from_texts
    from policies_app.services.apply import policies_apply
    from policies_app.services.export import policies_export

    apply_yaml(review_policy())
    exported = policies_export()
    doc = next(d for d in yaml.safe_load_all(exported) if d.get("kind") == "access_review")
    assert doc["spec"] == {
        "roles": ["reviewe*"], "reviewer_roles": ["reviewer"], "duration": "7d",
        "remind_before": "1d", "on_missed": "remove",
    }  # fmt: skip
    again = policies_apply(plan=plan_from_texts([("export.yaml", exported)]))
    assert not again.changed


def test_reminder_reaches_reviewers_by_email(review_setup, user, mailoutbox):
    from django.contrib.auth import get_user_model

    from requests_app.services.notifications import outbox_dispatch

    get_user_model().objects.filter(username="bob").update(email="bob@example.com")
    _start(user)
    message = OutboxMessage.objects.get(event="access_review.started")
    outbox_dispatch(message_id=message.pk)
    sent = [m for m in mailoutbox if "bob@example.com" in m.to]
    assert sent and "The access review reviewers-recert has started" in sent[0].body
    assert "wait for you to keep or remove" in sent[0].body and "UTC" in sent[0].body


def test_the_sweep_is_on_the_beat_schedule_and_runs_as_a_task(settings, review_setup):
    from requests_app import tasks

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "requests_app.tasks.access_reviews_due" in scheduled
    assert tasks.access_reviews_due.delay().get() == {"started": 0, "reminded": 0, "closed": 0}


def test_unknown_scope_is_a_400(review_setup, user):
    client = APIClient()
    client.force_authenticate(user("carol"))
    answer = client.get("/api/v1/access-reviews/items/?scope=everything")
    assert answer.status_code == 400 and answer.json()["field"] == "scope"


def test_a_decision_after_the_deadline_is_refused(review_setup, user):
    run = _start(user)
    CampaignRun.objects.filter(pk=run.pk).update(deadline=run.started)
    with pytest.raises(Conflict, match="past its deadline"):
        campaign_item_decide(
            item_id=_item(run, "bob").pk, reviewer=user("carol"), decision="KEEP", reason="late"
        )
