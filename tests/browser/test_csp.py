"""The Content-Security-Policy holds in a real browser: the pages work under it, and the
browser reports no violation (a blocked script or style would break a page silently).

Pages: the API's Swagger UI at /api/docs/ (which must render the operations without any
inline script), the portal's home page, and a request's page in the admin review desk.
Violations are collected two ways: the console errors Chromium logs for them, and the
`securitypolicyviolation` events the page fires (recorded by a script Playwright injects,
which the page's CSP does not govern).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.browser.conftest import PASSWORD

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, with every CSP violation and console error recorded."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(f"{m.text} ({m.location['url']})") if m.type == "error" else None,
    )
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.context.add_init_script(RECORD_VIOLATIONS)

    def problems() -> list[str]:
        page.wait_for_load_state("load")  # every stylesheet and script has been applied
        violations = page.evaluate("window.__cspViolations || []")
        return violations + [e for e in errors if "Content Security Policy" in e or "uncaught" in e]

    page.csp_problems = problems
    return page


@pytest.fixture
def requests(transactional_db, base_policy, web_user, user):
    """alice (portal user) has active access and a request pending; bob reviews in the admin."""
    alice = web_user("alice")
    web_user("bob", staff=True)
    active = access_request_create(requester=alice, roles=["dev-admin"], reason="INC-8")
    review_submit(request_id=active.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    pending = access_request_create(requester=alice, roles=["db-admin"], reason="INC-9")
    return {"active": active, "pending": pending}


def test_api_docs_portal_and_admin_render_under_the_csp(watched, admin_login, requests):
    page = watched
    admin_login(page, "bob")  # lands on the admin home, with its review-queue panel
    expect(page.locator("#review-queue-panel")).to_be_visible()
    assert page.csp_problems() == []

    # Swagger UI: loads the schema and renders every operation, with no CSP complaint, and
    # "Try it out" calls the API with bob's session.
    response = page.goto("/api/docs/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    reviews = page.locator(".opblock-summary-path", has_text="/api/v1/requests/{id}/reviews/")
    expect(reviews).to_be_visible()
    schema = page.request.get("/api/schema/?format=json").json()
    operations = sum(
        1 for item in schema["paths"].values() for method in item if method != "parameters"
    )
    assert operations >= 15 and page.locator(".opblock").count() == operations
    page.locator(".opblock-summary-path", has_text="/api/v1/me/").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    live = page.locator(".live-responses-table .response .response-col_status")
    expect(live.first).to_have_text("200")
    assert page.csp_problems() == []

    # A request's page in the admin review desk, with its threshold progress bars.
    page.goto(f"/admin/requests_app/accessrequest/{requests['pending'].pk}/change/")
    expect(page.get_by_text("INC-9").first).to_be_visible()
    assert page.locator(".ap-bar").count() >= 1
    assert page.csp_problems() == []

    # The portal's home page, for alice: her active access with its countdown bar.
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("[data-timebar]").first).to_be_attached()
    # The bar is drawn by the stylesheet class, then kept current by the page's script.
    page.wait_for_function(
        "() => document.querySelector('[data-timebar]').getBoundingClientRect().width > 0"
    )
    assert page.csp_problems() == []
    page.goto(f"/requests/{requests['pending'].pk}/")
    expect(page.get_by_text("INC-9").first).to_be_visible()
    assert page.csp_problems() == []
