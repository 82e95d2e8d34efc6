"""The review desk in a real browser: reviewers work their queue in Django admin.

Policies are the demo's (examples/demo.yaml), loaded through the real loader: alice's
requests need a reason; dave's db-admin requests need two approvals (bob and carol).
The queue test also takes the README's admin pictures (`pytest tests/browser
--screenshots docs/screenshots`; the `shots` fixture, tests/browser/conftest.py).
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accessportal.kernel.choices import RequestState
from policies_app.loader import plan_from_files, plan_from_texts
from policies_app.services.apply import policies_apply
from requests_app.models import AccessRequest, Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit


@pytest.fixture
def demo(transactional_db, web_user):
    plan = plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"])
    policies_apply(plan=plan)
    return {
        name: web_user(name, staff=name in {"bob", "carol"})
        for name in ("alice", "bob", "carol", "dave")
    }


def _ago(**kwargs):
    return time_machine.travel(timezone.now() - datetime.timedelta(**kwargs), tick=False)


def test_reviewer_approves_a_request_from_the_queue(page, admin_login, demo, shots):
    with _ago(hours=3, minutes=40):
        two_person = access_request_create(
            requester=demo["dave"],
            roles=["db-admin"],
            reason="PAY-118: migrate the billing schema (runbook linked in the ticket)",
            max_duration="4h",
        )
    with _ago(hours=2, minutes=5):
        access_request_create(
            requester=demo["alice"],
            roles=["db-admin"],
            reason="INC-2304: billing replica lag, need to inspect pg_stat_replication",
            max_duration="1d",
        )
    with _ago(minutes=25):
        access_request_create(
            requester=demo["alice"],
            resources=["node/db-prod-1"],
            reason="CHG-77: rotate the TLS certificate on db-prod-1",
            max_duration="1h",
        )
    review_submit(
        request_id=two_person.id,
        reviewer=demo["carol"],
        state="APPROVED",
        reason="Runbook checked, fine by me",
    )

    admin_login(page, "bob")
    expect(page.locator("#review-queue-panel")).to_contain_text("3")
    page.click("text=Open my queue")
    expect(page.locator("h1")).to_have_text("Pending for me")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("dave")  # oldest first
    expect(rows.first).to_contain_text("two-person: 1 of 2 approvals")
    page.screenshot(path=str(shots / "admin-queue.png"), full_page=True)

    rows.first.locator("a.ap-open").click()
    expect(page.locator(".ap-state")).to_have_text("Pending")
    expect(page.locator("#reviews")).to_contain_text("Runbook checked, fine by me")
    page.fill("#id_reason", "Change window approved in CAB-12")
    page.screenshot(path=str(shots / "admin-request.png"), full_page=True)
    page.click("button[value=APPROVED]")

    expect(page.locator(".messagelist")).to_contain_text("The request is approved")
    expect(page.locator(".ap-state")).to_have_text("Approved")
    expect(page.locator("#reviews")).to_contain_text("Change window approved in CAB-12")
    two_person.refresh_from_db()
    assert two_person.state == RequestState.APPROVED
    assert two_person.grants.filter(role="db-admin").exists()


def test_second_reviewer_completes_a_two_person_approval(page, admin_login, demo):
    request = access_request_create(
        requester=demo["dave"], roles=["db-admin"], reason="PAY-120: backfill invoices"
    )

    admin_login(page, "bob")
    page.goto("/admin/requests_app/pendingrequest/")
    page.locator("#result_list a.ap-open", has_text="dave").click()
    page.fill("#id_reason", "first approval")
    page.click("button[value=APPROVED]")
    expect(page.locator(".messagelist")).to_contain_text("Still pending: two-person: 1 of 2")
    expect(page.locator(".ap-state")).to_have_text("Pending")
    expect(page.locator("#decide")).to_contain_text("You have reviewed this request")

    admin_login(page, "carol")
    page.click("text=Open my queue")
    page.locator("#result_list a.ap-open", has_text="dave").click()
    expect(page.locator("#thresholds")).to_contain_text("1 of 2")
    page.fill("#id_reason", "second approval")
    page.click("button[value=APPROVED]")
    expect(page.locator(".messagelist")).to_contain_text("The request is approved")
    expect(page.locator(".ap-state")).to_have_text("Approved")
    expect(page.locator("#thresholds")).to_contain_text("2 of 2")

    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert set(Review.objects.values_list("reviewer__username", flat=True)) == {"bob", "carol"}


def test_staff_requester_cannot_approve_own_request(page, admin_login, demo, web_user):
    # alice is staff and reviews others' requests too.
    policies_apply(
        plan=plan_from_texts([("t", "kind: user\nname: alice\nroles: [engineer, sre-lead]")])
    )
    alice = web_user("alice", staff=True)
    request = access_request_create(
        requester=alice, roles=["db-admin"], reason="INC-2310: please let me in"
    )

    admin_login(page, "alice")
    page.goto(f"/admin/requests_app/accessrequest/{request.pk}/change/")
    expect(page.locator("#decide")).to_contain_text("This is your own request")
    expect(page.locator("button[value=APPROVED]")).to_have_count(0)

    # The queue never offers it; selected in the list of all requests, the confirmation page
    # says up front that it will be skipped and why, and offers nothing to press.
    page.goto("/admin/requests_app/accessrequest/")
    page.locator(f"input.action-select[value='{request.pk}']").check()
    page.select_option("select[name=action]", "approve_selected")
    page.click("button[name=index]")
    expect(page.locator("#bulk-skipped")).to_contain_text("This is your own request")
    expect(page.locator("#bulk-confirm")).to_contain_text(
        "None of the selected requests can be reviewed by you"
    )
    expect(page.locator("button.ap-btn-approve")).to_have_count(0)
    request = AccessRequest.objects.get(pk=request.pk)
    assert request.state == RequestState.PENDING
    assert not Review.objects.exists()
