"""The request form in a real browser: a preview is never stale, a refused submit puts the
focus on an error summary that speaks the form's words, and a user who may request nothing
is told why instead of being shown an empty form."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from requests_app.models import AccessRequest
from tests.browser import test_portal_flows as flows
from tests.browser.test_portal_flows import PASSWORD

REASON = re.compile(r"^Reason")

# The demo policies and the signed-in pages of test_portal_flows.
demo, open_as = flows.demo, flows.open_as


def fill_db_admin(page, duration: str) -> None:
    page.get_by_role("link", name="Request access").first.click()
    page.get_by_label("db-admin", exact=True).check()
    page.get_by_label(REASON).fill("INC-77: billing replica")
    page.get_by_label("For how long", exact=True).fill(duration)


def test_changing_a_field_after_preview_clears_the_preview(open_as):
    alice = open_as("alice")
    fill_db_admin(alice, "2h")
    alice.get_by_role("button", name="Preview").click()
    expect(alice.locator("#preview")).to_contain_text("2h")

    alice.get_by_label("For how long", exact=True).fill("4h")
    expect(alice.locator("#preview")).to_have_count(0)
    expect(alice.get_by_role("status").filter(has_text="Preview cleared")).to_be_visible()

    alice.get_by_role("button", name="Preview").click()
    preview = alice.locator("#preview")
    expect(preview).to_contain_text("4h")
    preview.get_by_role("button", name="Submit request").click()
    expect(alice.get_by_text("Request sent.")).to_be_visible()
    assert AccessRequest.objects.get().max_duration == 4 * 3600


def test_without_javascript_a_submit_that_differs_from_the_preview_sends_nothing(browser, demo):
    context = browser.new_context(java_script_enabled=False, base_url=demo)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    fill_db_admin(page, "2h")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text("2h")

    page.get_by_label("For how long", exact=True).fill("3h")  # the preview still says 2h
    page.locator("#preview").get_by_role("button", name="Submit request").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was sent")
    expect(page.locator("#preview")).to_contain_text("3h")  # the preview of what it asks now
    assert not AccessRequest.objects.exists()

    page.locator("#preview").get_by_role("button", name="Submit request").click()
    expect(page.get_by_text("Request sent.")).to_be_visible()
    assert AccessRequest.objects.get().max_duration == 3 * 3600
    context.close()


def test_refused_submit_focuses_an_error_summary_in_the_forms_words(open_as):
    alice = open_as("alice")
    fill_db_admin(alice, "15d")
    help_text = alice.locator("#id_max_duration_helptext")
    expect(help_text).to_contain_text("A longer ask is lowered to the cap")
    expect(help_text).to_contain_text("more than 14d is refused")
    alice.get_by_role("button", name="Submit request").first.click()

    summary = alice.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.get_by_role("heading")).to_contain_text("One thing to fix")
    link = summary.get_by_role("link")
    expect(link).to_have_text("“For how long” may be at most 14d (asked for 15d)")
    expect(link).to_have_attribute("href", "#id_max_duration")
    expect(alice.locator("body")).not_to_contain_text("Max_duration")
    link.click()
    expect(alice.get_by_label("For how long", exact=True)).to_be_focused()
    expect(alice.get_by_label(REASON)).to_have_value("INC-77: billing replica")  # kept
    assert not AccessRequest.objects.exists()


def test_a_start_time_in_the_past_is_named_by_its_label(open_as):
    alice = open_as("alice")
    fill_db_admin(alice, "1h")
    alice.get_by_label("Start at").fill("2020-01-01T09:00")
    alice.get_by_role("button", name="Submit request").first.click()
    summary = alice.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text("“Start at” is in the past")
    expect(alice.locator("body")).not_to_contain_text("Assume_start_time")


def test_a_user_who_may_request_nothing_is_told_why_and_whom_to_ask(open_as, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "x-not-used-x")
    erin = open_as("erin")
    erin.get_by_role("link", name="Request access").first.click()
    box = erin.locator(".nothing-requestable")
    expect(box.get_by_role("heading")).to_have_text("There is nothing you may request")
    expect(box).to_contain_text("none of your roles (auditor)")
    expect(box).to_contain_text("Ask your security team or the people who run Access Portal")
    expect(box).not_to_contain_text("root")  # superusers are never named to anyone
    expect(erin.get_by_role("button", name="Submit request")).to_have_count(0)
    expect(erin.get_by_role("button", name="Preview")).to_have_count(0)
