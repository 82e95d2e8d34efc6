"""The review inbox says who already approved a request and what approving it grants:
the roles or resources, for how long, from when until when."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.browser import test_portal_flows as flows

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def test_inbox_shows_earlier_approvers_and_what_approval_grants(open_as, user):
    # dave is a contractor: db-admin needs two approvals, for at most 2h.
    request = access_request_create(
        requester=user("dave"), roles=["db-admin"], reason="CHG-311", max_duration="2h"
    )
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")

    carol = open_as("carol")
    carol.get_by_role("link", name=re.compile(r"^Reviews")).click()
    item = carol.locator(".inbox-item").filter(has_text="dave")
    expect(item).to_contain_text("Approving gives dave:")
    expect(item.locator(".chip-role")).to_have_text("role db-admin")
    facts = item.locator(".facts")
    expect(facts.locator("div").filter(has_text="For")).to_contain_text("2h")
    expect(facts.locator("div").filter(has_text="Ends")).to_contain_text("2h after approval")
    expect(facts.locator(".approved-by dd")).to_have_text("bob")
    expect(facts.locator("div").filter(has_text="two-person")).to_contain_text("1 of 2")


def test_inbox_says_nobody_approved_yet(open_as, user):
    access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-8")
    bob = open_as("bob")
    bob.get_by_role("link", name=re.compile(r"^Reviews")).click()
    item = bob.locator(".inbox-item").filter(has_text="alice")
    expect(item.locator(".approved-by dd")).to_have_text("nobody yet")
