"""The desk's frame in a real browser: an auditor (view-only staff) is offered no action
they cannot perform, a refusal inside /admin/ is a desk page with navigation, and state
badges are never clipped, at desktop width and on a phone (390 px).

Policies are the demo's (examples/demo.yaml): erin holds `auditor` (sees every request,
reviews none), bob and carol review.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from policies_app.loader import plan_from_files
from policies_app.services.apply import policies_apply
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

PHONE = {"width": 390, "height": 844}

# True when a badge is cut: its text wider than its own box, or not wholly inside the window
# or an ancestor that clips or scrolls (half a badge at a scroll edge reads as a wrong state).
CLIPPED = """el => {
  if (el.scrollWidth > el.clientWidth + 1) return true;
  const r = el.getBoundingClientRect();
  if (r.left < -1 || r.right > window.innerWidth + 1) return true;
  for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const b = a.getBoundingClientRect();
    if (r.left < b.left - 1 || r.right > b.right + 1) return true;
    if (r.top < b.top - 1 || r.bottom > b.bottom + 1) return true;
  }
  return false;
}"""


@pytest.fixture
def demo(transactional_db, web_user):
    policies_apply(plan=plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"]))
    people = {
        name: web_user(name, staff=name in {"bob", "carol", "erin"})
        for name in ("alice", "bob", "carol", "dave", "erin")
    }
    pending = access_request_create(
        requester=people["alice"], roles=["db-admin"], reason="INC-7: replica lag"
    )
    approved = access_request_create(
        requester=people["alice"], roles=["dev-admin"], reason="INC-8: deploy stuck"
    )
    review_submit(request_id=approved.pk, reviewer=people["bob"], state="APPROVED", reason="ok")
    return {**people, "pending": pending, "approved": approved}


def test_auditor_is_offered_no_action_and_a_refusal_stays_in_the_desk(page, admin_login, demo):
    admin_login(page, "erin")
    page.goto("/admin/requests_app/accessrequest/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)  # she sees everything
    expect(page.locator("select[name=action]")).to_have_count(0)
    expect(page.locator("input.action-select")).to_have_count(0)

    page.goto(f"/admin/requests_app/accessrequest/{demo['pending'].pk}/change/")
    expect(page.locator("#decide")).to_contain_text("do not allow you to review")
    expect(page.locator("button[value=APPROVED], button[value=DENIED]")).to_have_count(0)
    page.goto(f"/admin/requests_app/accessrequest/{demo['approved'].pk}/change/")
    expect(page.locator("#revoke")).to_have_count(0)

    page.goto("/admin/requests_app/grant/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("select[name=action]")).to_have_count(0)

    # The reviewers' queue is not hers: the refusal is a desk page she can navigate away from.
    response = page.goto("/admin/requests_app/pendingrequest/")
    assert response.status == 403
    expect(page.locator("#site-name")).to_contain_text("Access Portal")
    expect(page.locator("h1")).to_have_text("You may not do this")
    expect(page.locator(".breadcrumbs a", has_text="Home")).to_be_visible()
    page.click("text=Back to the review desk")
    page.wait_for_url("**/admin/")


def test_reviewer_is_still_offered_approve_deny_and_revoke(page, admin_login, demo):
    admin_login(page, "carol")
    page.goto("/admin/requests_app/accessrequest/")
    options = page.locator("select[name=action] option")
    expect(options).to_contain_text(["Approve selected requests…", "Deny selected requests…"])
    page.goto("/admin/requests_app/grant/")
    expect(page.locator("select[name=action] option")).to_contain_text(
        ["Revoke the access of selected grants…"]
    )


@pytest.mark.parametrize("viewport", [None, PHONE], ids=["desktop", "phone"])
def test_state_badges_are_never_clipped(page, admin_login, demo, viewport):
    if viewport:
        page.set_viewport_size(viewport)
    admin_login(page, "carol")
    pages = [
        "/admin/requests_app/accessrequest/",
        "/admin/requests_app/grant/",
        "/admin/requests_app/review/",
        f"/admin/requests_app/accessrequest/{demo['pending'].pk}/change/",
        f"/admin/requests_app/accessrequest/{demo['approved'].pk}/change/",
    ]
    for path in pages:
        page.goto(path)
        badges = page.locator(".ap-badge")
        assert badges.count(), path
        cut = [
            badges.nth(i).inner_text()
            for i in range(badges.count())
            if badges.nth(i).evaluate(CLIPPED)
        ]
        assert not cut, f"{path}: clipped badges {cut}"
