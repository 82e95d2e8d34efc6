"""Break-glass in a real browser: the request form's "Break glass" button (shown only where
policy allows it, saying what it does), the inbox's ratification queue, and the desk's
"Awaiting my ratification" list with Reject."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accessportal.kernel.choices import RequestState
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.services.break_glass import break_glass_open
from tests.browser import test_portal_flows as flows

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as

# alice, on call, may break glass for db-admin (not for dev-admin). Break-glass needs every
# role that allows db-admin to allow it, so here engineer no longer allows db-admin: on call
# does, alone. `notify` names a notification rule that exists (checked at load).
ONCALL = """
kind: role
name: engineer
description: Every engineer. May ask for elevated roles and for production nodes.
spec:
  allow:
    request:
      roles: [dev-admin]
      search_as_roles: [prod-node-access]
      suggested_reviewers: [bob]
      max_duration: 8h
      reason: {mode: required, prompt: "Ticket number and why you need it"}
---
kind: notification_rule
name: security
spec:
  events: ["break_glass.*"]
  channels:
    - {type: email, to: [security@example.com]}
---
kind: role
name: oncall
spec:
  allow:
    request:
      roles: [db-admin]
      break_glass: {ratify_within: 1h, notify: [security]}
---
kind: user
name: alice
email: alice@example.com
roles: [engineer, oncall]
traits: {team: [pay]}
"""


@pytest.fixture
def oncall(demo, apply_yaml):
    apply_yaml(ONCALL)


def test_break_glass_button_says_what_it_does_and_grants_now(oncall, open_as, shots):
    alice = open_as("alice")
    alice.get_by_role("link", name="Request access").first.click()
    section = alice.get_by_role("region", name="Emergency? Break glass")
    expect(section).to_contain_text("For emergencies only, and only for db-admin")
    expect(section).to_contain_text("ratify it within 1h")
    alice.get_by_label("db-admin", exact=True).check()
    alice.get_by_label("Reason").fill("INC-99: billing database down, nobody answers")
    alice.screenshot(path=str(shots / "break-glass-form.png"), full_page=True)
    section.get_by_role("button", name="Break glass").click()

    expect(alice.get_by_text("Break-glass access granted now.")).to_be_visible()
    expect(alice.get_by_role("region", name="Break-glass access")).to_contain_text(
        "Awaiting ratification"
    )
    request = AccessRequest.objects.get()
    assert request.state == RequestState.APPROVED and request.user.username == "alice"


def test_break_glass_button_is_absent_without_the_policy(demo, open_as):
    alice = open_as("alice")
    alice.get_by_role("link", name="Request access").first.click()
    expect(alice.get_by_role("heading", name="Request access")).to_be_visible()
    expect(alice.get_by_role("button", name="Break glass")).to_have_count(0)


def test_reviewer_ratifies_from_the_inbox_queue(oncall, open_as, user, shots):
    break_glass_open(requester=user("alice"), roles=["db-admin"], reason="INC-99: db down")
    bob = open_as("bob")
    bob.goto(bob.url.rstrip("/") + "/reviews/")
    queue = bob.get_by_role("region", name="Break-glass access awaiting ratification")
    expect(queue).to_contain_text("INC-99: db down")
    bob.screenshot(path=str(shots / "break-glass-inbox.png"), full_page=True)
    queue.get_by_label("Reason").fill("INC-99 is real, paged at 03:10")
    queue.get_by_role("button", name="Ratify alice's break-glass access").click()
    expect(bob.get_by_text("You ratified alice's break-glass access.")).to_be_visible()
    expect(
        bob.get_by_role("region", name="Break-glass access awaiting ratification")
    ).to_have_count(0)
    assert BreakGlass.objects.get().state == Ratification.RATIFIED


def test_desk_queue_rejects_with_a_reason(oncall, page, user, web_user, admin_login, shots):
    request = break_glass_open(requester=user("alice"), roles=["db-admin"], reason="INC-100")
    web_user("bob", staff=True)
    admin_login(page, "bob")
    page.goto("/admin/requests_app/breakglass/?ratification=mine")
    expect(page.get_by_role("heading", name="Break-glass uses")).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("INC-100")
    page.screenshot(path=str(shots / "break-glass-desk.png"), full_page=True)
    page.locator(f"input.action-select[value='{request.pk}']").check()
    page.select_option("select[name=action]", "reject_selected")
    page.click("button[name=index]")
    page.get_by_label("Reason").fill("no incident matches INC-100")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".messagelist")).to_contain_text("rejected")
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED
