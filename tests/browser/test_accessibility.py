"""Accessibility in a real browser: axe-core (tests/browser/axe.py) on every portal and admin
page, at desktop (1400x900) and phone (390x844, touch) sizes, as the people who see them,
with no serious or critical violation (WCAG 2.1 A/AA and Deque's best practices).

The data is a small company's (examples/demo.yaml): alice's requests in every state
(pending, approved and active, ended, revoked, denied, withdrawn, expired, extended), dave's
two-person request half approved, bob and carol reviewing, erin auditing, root
administering. One test per page group and size; each walks its pages and reports every
violation it met, not only the first. The admin walk enumerates `admin.site._registry`, so a
newly registered model is covered without touching this file.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from policies_app.loader import plan_from_files
from policies_app.models import Role
from policies_app.services.apply import policies_apply
from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke
from requests_app.services.resolution import access_request_withdraw, access_requests_expire_due
from requests_app.services.reviews import review_submit
from requests_app.services.tokens import api_token_create
from tests.browser.axe import serious_violations
from tests.browser.conftest import PASSWORD, admin_sign_in
from tests.browser.focus import focus_problems

# Rendered markup is the same on every database: CI checks it once, in the SQLite pass.
pytestmark = pytest.mark.markup

SIZES = {
    "desktop": {"viewport": {"width": 1400, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636's example S256 challenge


def _ago(**kwargs):
    return time_machine.travel(timezone.now() - datetime.timedelta(**kwargs), tick=False)


@pytest.fixture
def company(transactional_db, web_user, settings):
    """The demo company with requests in every state; returns them by name."""
    # Sign-ins are part of every walk: a fast hasher keeps the file within its time budget
    # (what is measured is the pages, not password hashing).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    policies_apply(plan=plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"]))
    people = {
        name: web_user(name, staff=name in {"bob", "carol", "erin"})
        for name in ("alice", "bob", "carol", "dave", "erin")
    }
    get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    def ask(*, roles=None, resources=None, reason, who=alice, **extra):
        return access_request_create(
            requester=who, roles=roles, resources=resources, reason=reason, **extra
        )

    def approve(request, reviewer=bob, reason="Fine, ticket checked"):
        return review_submit(
            request_id=request.id, reviewer=reviewer, state="APPROVED", reason=reason
        )

    found = {}
    with _ago(days=3):
        found["expired"] = ask(roles=["dev-admin"], reason="OPS-9: old question", request_ttl="1h")
        found["ended"] = ask(roles=["db-admin"], reason="INC-100: vacuum", max_duration="1h")
        approve(found["ended"])
    access_requests_expire_due()
    found["active"] = ask(roles=["dev-admin"], reason="INC-2304: replica lag", max_duration="4h")
    approve(found["active"])
    found["extended"] = ask(roles=["db-admin"], reason="CHG-77: rotate TLS", max_duration="2h")
    approve(found["extended"])
    found["extension"] = access_request_extend(
        requester=alice, request_id=found["extended"].id, reason="CHG-77: still rotating"
    )
    found["revoked"] = ask(resources=["node/db-prod-1"], reason="PAY-5: look at logs")
    approve(found["revoked"])
    access_request_revoke(request_id=found["revoked"].id, actor=bob, reason="Done early")
    found["denied"] = ask(roles=["db-admin"], reason="just curious")
    review_submit(request_id=found["denied"].id, reviewer=carol, state="DENIED", reason="No ticket")
    found["withdrawn"] = ask(roles=["dev-admin"], reason="PAY-6: wrong role")
    access_request_withdraw(request_id=found["withdrawn"].id, actor=alice)
    found["pending"] = ask(roles=["db-admin"], reason="INC-2305: billing replica lag")
    found["resource"] = ask(resources=["node/web-prod-1"], reason="CHG-78: deploy hotfix")
    found["two_person"] = ask(roles=["db-admin"], reason="PAY-118: migrate", who=people["dave"])
    approve(found["two_person"], reviewer=carol, reason="Runbook checked")
    api_token_create(user=alice)
    return found


@pytest.fixture(params=list(SIZES))
def tab(request, browser, live_server):
    """A page at one size ("desktop" or "phone"), and a signed-in helper."""
    context = browser.new_context(base_url=live_server.url, **SIZES[request.param])
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def portal_sign_in(page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {username}")).to_be_visible()


class Walk:
    """Visits pages and gathers their serious or critical violations."""

    def __init__(self, page):
        self.page, self.found, self.seen = page, [], []

    def check(self, name: str) -> None:
        self.seen.append(name)
        self.found.extend(serious_violations(self.page, name))

    def visit(self, name: str, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status < 500, f"{name}: {url} answered 5xx"
        self.check(name)

    def assert_clean(self) -> None:
        assert self.seen, "no page was checked"
        assert not self.found, (
            f"{len(self.found)} serious/critical violations on {len(self.seen)} pages:\n"
            + "\n".join(self.found)
        )


def test_sign_in_pages(tab, company):
    walk = Walk(tab)
    walk.visit("sign-in", "/accounts/login/")
    tab.get_by_label("Username").fill("alice")
    tab.get_by_label("Password").fill("wrong password")
    tab.get_by_role("button", name="Sign in").click()
    expect(tab.locator(".alert-error, .errorlist").first).to_be_visible()
    walk.check("sign-in, failed")
    walk.visit("admin sign-in", "/admin/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        tab.goto("/accounts/login/")
        tab.get_by_label("Username").fill("mallory")
        tab.get_by_label("Password").fill("guess")
        tab.get_by_role("button", name="Sign in").click()
    expect(tab.get_by_text("Too many failed sign-in attempts")).to_be_visible()
    walk.check("lockout")
    walk.assert_clean()


def test_portal_pages_of_a_requester(tab, company):
    walk = Walk(tab)
    portal_sign_in(tab, "alice")
    walk.check("home")
    tab.locator(".usermenu summary").click()
    walk.check("home, account menu open")

    walk.visit("request new", "/request/")
    tab.get_by_label("db-admin", exact=True).check()
    tab.get_by_role("button", name="Submit request").click()
    # The error summary (focused) and the message under the field.
    expect(tab.get_by_role("alert")).to_contain_text("A reason is required for this request")
    walk.check("request new, failed submit")
    tab.get_by_label(re.compile(r"^Reason")).fill("INC-1: look at the replica")
    tab.get_by_role("button", name="Preview").click()
    expect(tab.locator("#preview")).to_contain_text("If approved, you get")
    walk.check("request new, preview")

    walk.visit("request list", "/requests/")
    for state, request in company.items():
        if request.user.get_username() == "alice":
            walk.visit(f"request detail ({state})", f"/requests/{request.pk}/")
    walk.visit("extend", f"/requests/{company['active'].pk}/extend/")
    tab.get_by_role("button", name=re.compile(r"^Ask to extend")).click()
    walk.check("extend, submitted without a reason")
    walk.visit("tokens", "/tokens/")
    walk.visit("cli login", f"/cli/login/?port=8123&state=s1&code_challenge={CHALLENGE}")
    walk.visit("cli login, bad link", "/cli/login/?port=1&state=&code_challenge=x")
    walk.visit("cli device", "/cli/device/?user_code=ABCD-EFGH")
    tab.get_by_role("button", name=re.compile("approve", re.I)).first.click()
    walk.check("cli device, unknown code")
    walk.visit("password change", "/accounts/password/")
    tab.locator("#id_old_password").fill("wrong")
    tab.locator("button[type=submit], input[type=submit]").last.click()
    walk.check("password change, failed")
    walk.visit("password changed", "/accounts/password/done/")
    walk.assert_clean()


def test_portal_pages_of_a_reviewer_and_an_auditor(tab, company):
    walk = Walk(tab)
    portal_sign_in(tab, "bob")
    walk.check("home (reviewer)")
    walk.visit("inbox", "/reviews/")
    walk.visit("request detail to review", f"/requests/{company['pending'].pk}/")
    walk.visit("request list (reviewer)", "/requests/")
    portal_sign_in(tab, "carol")
    walk.visit("inbox, nothing waiting", "/reviews/")
    portal_sign_in(tab, "erin")
    walk.visit("request list (auditor)", "/requests/")
    walk.visit("request detail (auditor)", f"/requests/{company['active'].pk}/")
    walk.assert_clean()


def _run_action(page, changelist: str, action: str) -> None:
    page.goto(changelist)
    page.locator("#result_list tbody input.action-select").first.check()
    page.select_option("select[name=action]", action)
    page.click("button[name=index]")


def test_admin_review_desk(tab, company):
    walk = Walk(tab)
    admin_sign_in(tab, "bob")
    walk.check("admin index (reviewer)")
    walk.visit("queue", "/admin/requests_app/pendingrequest/")
    walk.visit("requests", "/admin/requests_app/accessrequest/")
    for state, request in company.items():
        walk.visit(f"request page ({state})", f"/admin/requests_app/accessrequest/{request.pk}/")
    active = f"/admin/requests_app/accessrequest/{company['active'].pk}/"
    walk.visit("permissions", f"{active}permissions/")
    tab.goto(f"/admin/requests_app/accessrequest/{company['two_person'].pk}/")
    tab.click("button[value=APPROVED]")
    walk.check("request page, refused review")
    _run_action(tab, "/admin/requests_app/pendingrequest/", "approve_selected")
    walk.check("bulk approve confirmation")
    _run_action(tab, "/admin/requests_app/pendingrequest/", "deny_selected")
    walk.check("bulk deny confirmation")
    _run_action(tab, "/admin/requests_app/grant/", "revoke_selected")
    walk.check("grant revoke confirmation")
    admin_sign_in(tab, "erin")
    walk.check("admin index (auditor)")
    walk.visit("audit log (auditor)", "/admin/requests_app/auditevent/")
    walk.assert_clean()


def _admin_urls() -> list[tuple[str, str]]:
    """Every registered model's changelist and its first object's change (or view) page."""
    urls = []
    for model in admin.site._registry:
        opts = model._meta
        name = f"{opts.app_label}.{opts.model_name}"
        base = f"admin:{opts.app_label}_{opts.model_name}"
        urls.append((f"{name} list", reverse(f"{base}_changelist")))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            urls.append((f"{name} change", reverse(f"{base}_change", args=[first.pk])))
    return urls


def test_admin_pages_of_every_registered_model(tab, company):
    walk = Walk(tab)
    admin_sign_in(tab, "root")
    walk.check("admin index (superuser)")
    for name, url in _admin_urls():
        walk.visit(name, url)
    walk.visit("policies export", reverse("admin:policies_app_role_export"))
    walk.visit("audit verify", reverse("admin:requests_app_auditevent_verify"))
    walk.visit("password change (admin)", reverse("admin:password_change"))
    walk.assert_clean()


@pytest.fixture
def desktop(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **SIZES["desktop"])
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def test_keyboard_focus_is_clearly_visible_on_every_control(desktop, company):
    """Tab through representative portal and admin pages: every control the keyboard
    reaches shows a focus outline of at least 2px at 3:1 against what is behind it,
    including the links of the dark top bar and the admin header."""
    page, problems, reached = desktop, [], {}

    def tab_through(name: str, url: str | None = None) -> None:
        if url:
            page.goto(url)
        count, found = focus_problems(page, name)
        reached[name] = count
        problems.extend(found)

    tab_through("portal sign-in", "/accounts/login/")
    portal_sign_in(page, "alice")
    tab_through("portal home")
    page.locator(".usermenu summary").click()
    tab_through("portal home, account menu open")
    tab_through("request new", "/request/")
    tab_through("request detail", f"/requests/{company['active'].pk}/")
    tab_through("tokens", "/tokens/")
    portal_sign_in(page, "bob")
    tab_through("inbox", "/reviews/")
    tab_through("admin sign-in", "/admin/login/")
    admin_sign_in(page, "bob")
    tab_through("admin index")
    tab_through("queue", "/admin/requests_app/pendingrequest/")
    tab_through("request page", f"/admin/requests_app/accessrequest/{company['pending'].pk}/")
    admin_sign_in(page, "root")
    role = reverse("admin:policies_app_role_change", args=[Role.objects.get(name="engineer").pk])
    tab_through("role editor", role)
    tab_through("users", reverse("admin:auth_user_changelist"))

    # Tabbing reached the controls (a page where Tab goes nowhere proves nothing).
    assert all(count >= 3 for count in reached.values()), str(reached)
    assert not problems, f"{len(problems)} controls without a visible focus:\n" + "\n".join(
        problems
    )
