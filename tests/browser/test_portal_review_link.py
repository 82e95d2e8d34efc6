"""A reviewer opens the one-time link from their email: a confirmation page with the
request and the verdict buttons; approving lands on the request, and the link, opened
again, says it was used."""

from __future__ import annotations

from playwright.sync_api import expect

from requests_app.models import Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.review_links import review_link_issue
from tests.browser import test_portal_flows as flows

demo, open_as = flows.demo, flows.open_as


def test_a_reviewer_approves_from_the_link_once(open_as, user, demo, shots):
    request = access_request_create(
        requester=user("alice"), roles=["db-admin"], reason="INC-77 replica lag"
    )
    token = review_link_issue(request=request, reviewer=user("bob"))
    bob = open_as("bob")
    bob.goto(f"{demo}/reviews/link/{token}/")
    expect(bob.get_by_role("heading", name="Confirm your review")).to_be_visible()
    expect(bob.get_by_text("INC-77 replica lag")).to_be_visible()
    expect(bob.get_by_text("For you only, usable once")).to_be_visible()
    bob.screenshot(path=shots / "review-link.png", full_page=True)
    assert not Review.objects.exists()  # opening the page did nothing

    bob.get_by_label("Reason for your review").fill("replica lag confirmed")
    bob.get_by_role("button", name="Approve").click()
    expect(bob.get_by_text("You approved alice's request.")).to_be_visible()
    expect(bob).to_have_url(f"{demo}/requests/{request.pk}/")

    bob.goto(f"{demo}/reviews/link/{token}/")
    expect(bob.locator("#link-refused")).to_contain_text("already used")
    bob.screenshot(path=shots / "review-link-used.png", full_page=True)
