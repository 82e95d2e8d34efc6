"""One way to write a moment, with the zone named, and the browser's zone from the very
first page after sign-in (the sign-in page already tells the server the zone)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from requests_app.services.access_requests import access_request_create
from tests.browser import test_portal_flows as flows

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def test_first_page_after_sign_in_is_in_the_browsers_zone(open_as, user):
    access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-9")
    alice = open_as("alice", timezone_id="Asia/Kolkata")  # signs in; no reload after
    # Chromium's ICU names the zone by its older alias; both are the same IANA zone.
    expect(alice.locator("footer")).to_contain_text(re.compile(r"Times in Asia/(Kolkata|Calcutta)"))
    waits = alice.locator("main time").first
    expect(waits).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} IST$"))
    expect(waits).to_have_attribute("datetime", re.compile(r"\+05:30$"))


def test_every_portal_page_writes_moments_the_same_way(open_as, user):
    request = access_request_create(requester=user("alice"), roles=["db-admin"], reason="INC-9")
    # A zone without daylight saving time: the abbreviation is the same all year.
    alice = open_as("alice", timezone_id="Asia/Tokyo")
    base = alice.url.rstrip("/")
    moment = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} JST$")
    for path in ("/", "/requests/", f"/requests/{request.pk}/"):
        alice.goto(base + path)
        times = alice.locator("main time:not([data-countdown])")
        assert times.count() >= 1, path
        for text in times.all_inner_texts():
            assert moment.match(text), f"{path}: {text!r}"
