"""Extending access in a real browser: the form shows its rules before any error and its
buttons say what they do; an approved extension reads as one access with a later end; "End
early" says what else it ends (`access_request_revoke` ends approved extensions and cancels
pending ones)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.reviews import review_submit
from tests.browser import test_portal_flows as flows

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def approved(user, **kwargs):
    request = access_request_create(requester=user("alice"), reason="INC-5", **kwargs)
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    request.refresh_from_db()
    return request


def test_extend_form_shows_rules_first_and_buttons_say_what_they_do(open_as, user):
    original = approved(user, roles=["db-admin"], max_duration="1h")
    alice = open_as("alice")
    alice.goto(alice.url.rstrip("/") + f"/requests/{original.pk}/extend/")

    # The rules, before any error: reason required with the policy's prompt, the cap.
    reason_field = alice.locator(".field").filter(has=alice.get_by_label(re.compile("^Reason")))
    expect(reason_field.locator(".tag")).to_have_text("required")
    expect(reason_field).to_contain_text("Ticket number and why you need it")
    expect(alice.locator("#id_max_duration_helptext")).to_contain_text("At most 8h.")
    expect(alice.locator(".alert-error")).to_have_count(0)

    ask = alice.locator("[data-extend-button]")
    expect(ask).to_have_text("Ask to extend by 8h")
    alice.get_by_label("For how long", exact=True).fill("2h")
    expect(ask).to_have_text("Ask to extend by 2h")
    expect(alice.get_by_role("link", name=re.compile("^Cancel"))).to_have_attribute(
        "href", f"/requests/{original.pk}/"
    )
    alice.get_by_label(re.compile("^Reason")).fill("INC-5: still migrating")
    ask.click()
    expect(alice.get_by_text("Extension requested.")).to_be_visible()
    extension = AccessRequest.objects.get(extends=original)
    assert extension.max_duration == 2 * 3600 and extension.state == RequestState.PENDING


def test_approved_extension_shows_one_access_with_its_extended_end(open_as, user):
    original = approved(user, roles=["db-admin"], max_duration="1h")
    extension = access_request_extend(
        requester=user("alice"), request_id=original.pk, reason="INC-5 more", max_duration="2h"
    )
    review_submit(request_id=extension.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    extension.refresh_from_db()
    assert extension.access_starts == original.access_expires

    alice = open_as("alice")
    panel = alice.locator("#access-panel")
    items = panel.locator(".access-item")
    expect(items).to_have_count(1)
    # 1h left of the original + the 2h extension.
    expect(items.locator("time.countdown")).to_have_text(re.compile(r"^ends in (3h|2h 59m)$"))
    expect(items.locator("time.countdown")).to_have_attribute(
        "datetime", extension.access_expires.isoformat()
    )
    expect(items).to_contain_text("Extended: it was to end")
    # The one Extend button extends the latest extension; nothing offers a second branch.
    expect(items.get_by_role("link", name=re.compile("^Extend"))).to_have_attribute(
        "href", f"/requests/{extension.pk}/extend/"
    )
    items.get_by_text("End early").click()
    expect(items).to_contain_text("Ending it also ends its approved extension.")


def test_end_early_says_the_waiting_extension_is_cancelled_and_it_is(open_as, user):
    original = approved(user, roles=["db-admin"], max_duration="1h")
    waiting = access_request_extend(
        requester=user("alice"), request_id=original.pk, reason="INC-5 more", max_duration="1h"
    )
    alice = open_as("alice")
    item = alice.locator("#access-panel .access-item")
    item.get_by_text("End early").click()
    expect(item).to_contain_text("Ending it also cancels the extension waiting for review.")
    item.get_by_role("button", name="End access now").click()
    expect(alice.get_by_text("Access ended")).to_be_visible()
    waiting.refresh_from_db()
    assert waiting.state == RequestState.WITHDRAWN

    # The request's own page says the same before its End button.
    second = approved(user, roles=["dev-admin"], max_duration="1h")
    access_request_extend(requester=user("alice"), request_id=second.pk, reason="more")
    alice.goto(alice.url.split("/requests/")[0].rstrip("/") + f"/requests/{second.pk}/")
    expect(alice.locator(".danger-zone")).to_contain_text(
        "Ending it also cancels the extension waiting for review."
    )
