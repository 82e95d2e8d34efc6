"""Shared fixtures for browser tests: Playwright driving Debian's headless chromium
against pytest-django's `live_server`.

`browser` is a headless chromium per test; `page` a fresh context (cookies, storage) with
`base_url` set to the live server, so tests `page.goto("/admin/")`;
`web_user` gives a persona a password (and staff status if asked); `admin_login` signs
in through /admin/login/. Data created by migrations (the audit chain head) is restored
for every browser test: live-server tests are transactional, and a flush would drop it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from tests.conftest import CHROMIUM

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password"
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test under tests/browser/ is a browser test (so `-m "not browser"` works)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture
def shots(request, tmp_path) -> Path:
    """Where a test's screenshots go: the --screenshots folder (docs/screenshots for the
    README) when given, else a temporary folder."""
    folder = Path(request.config.getoption("--screenshots") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(live_server, django_db_serialized_rollback) -> Iterator:
    """Headless chromium (Debian's package at ACCESSPORTAL_CHROMIUM, default
    /usr/bin/chromium; `playwright install` is not used). Without it the test was already
    skipped, or failed under ACCESSPORTAL_REQUIRE_SERVICES=1 (tests/conftest.py).

    One per test, started after the test database is ready: Playwright's sync API keeps an
    asyncio loop running in this thread, and while one runs Django hands out different
    connection objects (asgiref's thread-critical Local becomes context-local). Starting
    the loop only after pytest-django has restored the database, and closing those
    connections before it stops, keeps each test's database setup and teardown intact.
    """
    from playwright.sync_api import sync_playwright

    # Django's ORM refuses to run while an event loop runs in its thread unless told the
    # loop is not its business; here it is Playwright's, so that is true.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield chromium
            finally:
                connections.close_all()  # the ones opened while the loop ran
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server) -> Iterator:
    """A new browser context and page for one test, pointed at the live server."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def web_user(transactional_db, settings) -> Callable:
    """Give an existing user a known password, and staff status if asked: web_user("bob",
    staff=True). Returns the user. Hashed with MD5: the live server is this process, and
    PBKDF2's half second per hash and per sign-in is not under test here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def _make(username: str, *, staff: bool = False):
        user = get_user_model().objects.get(username=username)
        user.set_password(PASSWORD)
        user.is_staff = staff
        user.save(update_fields=["password", "is_staff"])
        return user

    return _make


def admin_sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the admin login form."""
    page.context.clear_cookies()
    page.goto("/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(lambda url: "/admin/login/" not in url)


@pytest.fixture
def admin_login() -> Callable:
    """Sign in through the admin login form: admin_login(page, "bob")."""
    return admin_sign_in
