"""The portal in a real browser (Playwright + Debian's headless Chromium).

Stories: an engineer asks for a role with a reason, a reviewer approves it in the inbox, the
engineer watches the countdown and ends the access early; a resource search and request.
The README's portal pictures come from a generator here, marked `screenshots`: a tool, run
only with `pytest tests/browser --screenshots docs/screenshots`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

PASSWORD = "browser-test-password"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(live_server, apply_yaml, django_user_model):
    """The demo policies (examples/demo.yaml) with known passwords, on the live server's db."""
    apply_yaml((Path(settings.BASE_DIR) / "examples" / "demo.yaml").read_text())
    for user in django_user_model.objects.all():
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
    return live_server.url


@pytest.fixture
def open_as(browser, demo):
    """A signed-in page for a persona, each in its own browser context."""
    contexts = []

    def _open(username: str, *, viewport=DESKTOP, timezone_id="UTC") -> Page:
        context = browser.new_context(viewport=viewport, timezone_id=timezone_id)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{demo}/")
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()
        return page

    yield _open
    for context in contexts:
        context.close()


def test_engineer_requests_reviewer_approves_engineer_ends_access_early(open_as, user):
    alice = open_as("alice")
    alice.get_by_role("link", name="Request access").first.click()
    expect(alice.get_by_role("heading", name="Request access")).to_be_visible()

    alice.get_by_label("db-admin", exact=True).check()
    # The policy's prompt is shown, and the reason is required.
    expect(alice.get_by_text("Ticket number and why you need it")).to_be_visible()
    alice.get_by_role("button", name="Submit request").click()
    summary = alice.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_contain_text("A reason is required for this request")
    expect(alice.get_by_label("db-admin", exact=True)).to_be_checked()  # nothing lost

    reason = alice.get_by_label(re.compile(r"^Reason"))
    reason.fill("INC-1234: replica lag on billing, need to inspect")
    alice.get_by_label("For how long", exact=True).fill("2h")
    alice.get_by_role("button", name="Preview").click()
    preview = alice.locator("#preview")
    expect(preview).to_contain_text("If approved, you get")
    expect(preview).to_contain_text("2h")
    expect(preview).to_contain_text("bob, carol")
    assert not AccessRequest.objects.exists()
    preview.get_by_role("button", name="Submit request").click()
    expect(alice.get_by_text("Request sent.")).to_be_visible()
    expect(alice.locator(".badge-lg")).to_have_text("Pending")
    request = AccessRequest.objects.get()

    bob = open_as("bob")
    expect(bob.get_by_role("link", name=re.compile(r"^Reviews"))).to_contain_text("1")
    bob.get_by_role("link", name=re.compile(r"^Reviews")).click()
    expect(bob.get_by_role("heading", name="Review inbox")).to_be_visible()
    item = bob.locator(".inbox-item").filter(has_text="alice")
    expect(item).to_contain_text("INC-1234: replica lag")
    item.get_by_label("Reason for your review").fill("Go ahead, ping me when done")
    item.get_by_role("button", name="Approve").click()
    expect(bob.get_by_text("You approved alice's request. It is approved")).to_be_visible()
    expect(bob.get_by_text("Nothing waits for your review.")).to_be_visible()
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED

    alice.get_by_role("link", name="Home").click()
    panel = alice.locator("#access-panel")
    expect(panel).to_contain_text("db-admin")
    expect(panel.locator("time.countdown")).to_have_text(re.compile(r"^ends in (2h|1h 59m)$"))
    assert access_check(user=user("alice"), role="db-admin").allowed

    panel.get_by_text("End early").click()
    panel.get_by_label("Why end it now?").fill("Fixed, thanks")
    panel.get_by_role("button", name="End access now").click()
    expect(alice.get_by_text("Access ended: db-admin is no longer yours.")).to_be_visible()
    expect(alice.get_by_text("You have no elevated access right now.")).to_be_visible()
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED and request.revoke_reason == "Fixed, thanks"
    assert not access_check(user=user("alice"), role="db-admin").allowed


def test_resource_search_and_request(open_as):
    alice = open_as("alice", timezone_id="Europe/Berlin")
    alice.get_by_role("link", name="Request access").first.click()
    results = alice.locator("#resource-results")
    # Only what alice may request: production nodes, not dev nodes or databases.
    expect(results).to_contain_text("node/db-prod-1")
    expect(results).to_contain_text("node/web-prod-1")
    expect(results).not_to_contain_text("node/web-dev-1")
    expect(results).not_to_contain_text("db/billing")

    alice.get_by_label(re.compile(r"^Reason")).fill("Deploy hotfix for PAY-88")
    alice.get_by_label("Name contains").fill("db-prod")  # live search (htmx), no reload
    expect(results).not_to_contain_text("node/web-prod-1")
    results.get_by_label("node/db-prod-1", exact=True).check()

    alice.get_by_label("Labels").fill("team=web")
    alice.get_by_label("Name contains").fill("")
    expect(results).to_contain_text("node/web-prod-1")
    expect(results.get_by_label("node/db-prod-1", exact=True)).to_be_checked()  # kept
    expect(alice.get_by_label(re.compile(r"^Reason"))).to_have_value("Deploy hotfix for PAY-88")

    alice.get_by_role("button", name="Submit request").click()
    expect(alice.get_by_text("Request sent.")).to_be_visible()
    request = AccessRequest.objects.get()
    assert request.resources == ["node/db-prod-1"] and request.roles == []
    # The page is drawn in the browser's time zone, which portal.js told the server.
    expect(alice.locator("footer")).to_contain_text("Times in Europe/Berlin")


def test_ticks_survive_search_results_that_no_longer_list_them(open_as):
    alice = open_as("alice")
    alice.get_by_role("link", name="Request access").first.click()
    results = alice.locator("#resource-results")
    results.get_by_label("node/web-prod-1", exact=True).check()
    alice.get_by_label("Name contains").fill("db-prod")
    expect(results.get_by_label("node/db-prod-1", exact=True)).not_to_be_checked()
    # Ticked before the search, still ticked after it, though the search does not match it.
    expect(results.get_by_label("node/web-prod-1", exact=True)).to_be_checked()
    results.get_by_label("node/db-prod-1", exact=True).check()
    alice.get_by_label(re.compile(r"^Reason")).fill("PAY-90")
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.get_by_text("Request sent.")).to_be_visible()
    assert sorted(AccessRequest.objects.get().resources) == ["node/db-prod-1", "node/web-prod-1"]


def test_pages_fit_a_phone(open_as, user):
    access_request_create(requester=user("alice"), roles=["dev-admin"], reason="INC-9")
    alice = open_as("alice", viewport=PHONE)
    base = alice.url.rstrip("/")
    for path in ("/", "/request/", "/requests/", "/reviews/", "/tokens/"):
        alice.goto(base + path)
        width = alice.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} scrolls sideways on a phone ({width}px)"


@pytest.mark.screenshots
def test_screenshots_for_readme(open_as, user, shots):
    """The README's pictures, from a lived-in demo: an active grant, requests waiting.
    A tool, not a test: runs only with --screenshots DIR (tests/conftest.py)."""
    alice, bob, dave = user("alice"), user("bob"), user("dave")
    granted = access_request_create(
        requester=alice, roles=["db-admin"], reason="INC-1234: replica lag", max_duration="4h"
    )
    review_submit(request_id=granted.id, reviewer=bob, state="APPROVED", reason="ok")
    access_request_create(
        requester=alice, resources=["node/db-prod-1"], reason="PAY-88: deploy hotfix"
    )
    access_request_create(
        requester=dave, roles=["db-admin"], reason="Migrate the billing schema (CHG-311)"
    )

    page = open_as("alice")
    expect(page.locator("#access-panel time.countdown")).to_have_text(
        re.compile(r"^ends in (4h|3h 59m)$")
    )
    page.screenshot(path=str(shots / "portal-home.png"), full_page=True)

    page.goto(page.url.rstrip("/") + "/request/")
    page.get_by_label("dev-admin", exact=True).check()
    page.get_by_label(re.compile(r"^Reason")).fill("PAY-91: restart the staging workers")
    page.get_by_label("For how long", exact=True).fill("2d")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("lowered to that")
    page.screenshot(path=str(shots / "portal-request.png"), full_page=True)

    reviewer = open_as("bob")
    reviewer.get_by_role("link", name=re.compile(r"^Reviews")).click()
    expect(reviewer.locator(".inbox-item")).to_have_count(2)
    reviewer.screenshot(path=str(shots / "portal-inbox.png"), full_page=True)
