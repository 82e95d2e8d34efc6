"""Access a user ended early reads as "Ended early at <time>", with the real end, on the
request's page and in the list; access revoked by someone else names who and when."""

from __future__ import annotations

from django.template.defaultfilters import date as date_filter
from playwright.sync_api import expect

from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit
from tests.browser import test_portal_flows as flows

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def shown(moment) -> str:
    """How the portal writes a moment for a browser in UTC (accessportal/formats.py)."""
    return date_filter(moment, "DATETIME_FORMAT")


def test_self_ended_access_shows_ended_early_with_the_real_end(open_as, user):
    request = access_request_create(
        requester=user("alice"), roles=["db-admin"], reason="INC-6", max_duration="4h"
    )
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    alice = open_as("alice")
    item = alice.locator("#access-panel .access-item")
    item.get_by_text("End early").click()
    item.get_by_role("button", name="End access now").click()
    expect(alice.get_by_text("Access ended")).to_be_visible()
    request = AccessRequest.objects.get()
    ended = alice.locator("section[aria-labelledby=ended-title] li.row").filter(has_text="db-admin")
    expect(ended).to_contain_text(f"Ended early at {shown(request.revoked_at)}")

    alice.get_by_role("link", name="My requests", exact=True).click()
    row = alice.locator("tbody tr").filter(has_text="db-admin")
    expect(row.locator(".badge")).to_have_text("Ended early")
    expect(row.locator("td[data-label=Window]")).to_contain_text(
        f"ended early at {shown(request.revoked_at)}"
    )
    expect(row).not_to_contain_text(shown(request.access_expires))  # not the planned end

    row.get_by_role("link", name="Open").click()
    expect(alice.locator(".badge-lg")).to_have_text("Ended early")
    ended = alice.locator(".facts div").filter(has_text="Ended")
    expect(ended.locator("strong")).to_have_text(f"Ended early at {shown(request.revoked_at)}")
    expect(alice.locator("main")).not_to_contain_text("Revoked")


def test_access_revoked_by_a_reviewer_names_who_and_when(open_as, user):
    request = access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-7")
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    access_request_revoke(request_id=request.id, actor=user("carol"), reason="incident over")
    request.refresh_from_db()
    alice = open_as("alice")
    alice.goto(alice.url.rstrip("/") + f"/requests/{request.pk}/")
    expect(alice.locator(".badge-lg")).to_have_text("Revoked")
    expect(alice.locator(".facts strong").filter(has_text="Revoked by")).to_have_text(
        f"Revoked by carol at {shown(request.revoked_at)}"
    )
