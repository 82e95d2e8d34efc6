"""The portal's "My reviews" page: an engineer's and a contractor's standing roles wait for
bob (an SRE lead); he removes one with a reason and it leaves the list."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from policies_app.models import RoleMembership
from requests_app.services.access_reviews import campaign_start
from tests.browser import test_portal_flows as flows

demo, open_as = flows.demo, flows.open_as

REVIEW = """
kind: access_review
name: standing-access
spec:
  roles: [engineer, contractor]
  reviewers: [bob]
  on_missed: keep
"""


def test_reviewer_removes_a_membership_and_it_leaves_the_list(open_as, apply_yaml, user, shots):
    apply_yaml(REVIEW)
    campaign_start(review_name="standing-access")
    bob = open_as("bob")
    bob.get_by_role("link", name=re.compile(r"^My reviews")).click()
    expect(bob.get_by_role("heading", name="My reviews")).to_be_visible()
    items = bob.locator(".inbox-item")
    expect(items).to_have_count(2)
    dave = items.filter(has_text="dave")
    expect(dave).to_contain_text("contractor")
    dave.get_by_label("Reason").fill("contract ended")
    bob.screenshot(path=str(shots / "portal-my-reviews.png"), full_page=True)
    dave.get_by_role("button", name=re.compile(r"^Remove")).click()
    expect(bob.get_by_text("You removed dave's contractor role.")).to_be_visible()
    # The navigation's count follows without a reload.
    expect(bob.get_by_role("link", name=re.compile(r"^My reviews"))).to_contain_text("1")
    bob.screenshot(path=str(shots / "portal-my-reviews-decided.png"), full_page=True)
    # After a reload only alice's item is left; dave no longer holds the role.
    bob.reload()
    expect(bob.locator(".inbox-item")).to_have_count(1)
    expect(bob.locator(".inbox-item")).to_contain_text("alice")
    assert not RoleMembership.objects.filter(user=user("dave"), role__name="contractor").exists()
