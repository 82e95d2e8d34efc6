"""The "My access" panel refreshes itself (htmx, every 60 s and when a window opens or
closes) without taking away what the user is doing, and without breaking the CSP.

The tests fire the panel's `refresh` event, the same request the 60-second poll sends, and
wait for its outcome (swapped, or held back), never for a clock."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.browser import test_portal_flows as flows
from tests.browser.test_csp import RECORD_VIOLATIONS

# Fire the panel's refresh; answer "swapped" once htmx swapped it, "waiting" if held back.
REFRESH = """() => new Promise((resolve) => {
  const panel = document.getElementById("access-panel");
  document.addEventListener("portal:refresh-waiting", () => resolve("waiting"), {once: true});
  document.body.addEventListener("htmx:afterSettle", () => resolve("swapped"), {once: true});
  window.htmx.trigger(panel, "refresh");
})"""

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def grant(user, role: str, reason: str):
    request = access_request_create(requester=user("alice"), roles=[role], reason=reason)
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    return request


@pytest.fixture
def alice(open_as, user):
    grant(user, "db-admin", "INC-1")
    page = open_as("alice")
    page.context.add_init_script(RECORD_VIOLATIONS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.reload()
    page.console_errors = errors
    return page


def csp_problems(page) -> list[str]:
    violations = page.evaluate("window.__cspViolations || []")
    return violations + [e for e in page.console_errors if "Content Security Policy" in e]


def test_refresh_keeps_an_open_end_early_form_and_its_text_then_catches_up(alice, user):
    panel = alice.locator("#access-panel")
    expect(panel).to_contain_text("db-admin")
    grant(user, "dev-admin", "INC-2")  # something new for the next refresh to show

    panel.get_by_text("End early").click()
    reason = panel.get_by_label("Why end it now?")
    reason.fill("half-typed reason")
    assert alice.evaluate(REFRESH) == "waiting"
    expect(reason).to_have_value("half-typed reason")
    expect(reason).to_be_focused()
    expect(panel.locator("details.end-access[open]")).to_have_count(1)
    expect(panel).not_to_contain_text("dev-admin")

    # Done with the form (emptied, closed, focus elsewhere): the held refresh runs.
    reason.fill("")
    panel.locator("summary", has_text="End early").click()
    alice.locator("h1").click()
    expect(panel).to_contain_text("dev-admin")
    expect(panel.locator(".access-item")).to_have_count(2)
    assert csp_problems(alice) == []


def test_refresh_swaps_the_panel_when_nothing_is_open_with_no_csp_violation(alice, user):
    grant(user, "dev-admin", "INC-3")
    assert alice.evaluate(REFRESH) == "swapped"
    expect(alice.locator("#access-panel")).to_contain_text("dev-admin")
    # htmx adds no inline <style> (its indicator styles are off) and evaluates nothing.
    assert alice.evaluate("document.querySelectorAll('style').length") == 0
    assert csp_problems(alice) == []


def test_typed_text_alone_holds_the_refresh(alice):
    panel = alice.locator("#access-panel")
    panel.get_by_text("End early").click()
    panel.get_by_label("Why end it now?").fill("work done")
    alice.locator("h1").click()  # focus leaves the panel; the text stays typed
    assert alice.evaluate(REFRESH) == "waiting"
    expect(panel.get_by_label("Why end it now?")).to_have_value("work done")
