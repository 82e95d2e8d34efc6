"""Password guessing is throttled (django-axes) and idle sessions expire, as a person using
the admin site sees it. Admin and portal logins share Django's authenticate(), so the
lockout covers both."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.utils import timezone

from accessportal.client_address import client_ip
from requests_app.api.throttling import AnonThrottle

LOGIN = "/admin/login/"
PASSWORD = "pw-for-tests-only"  # the `admin` persona's


def _login(client, username: str, password: str, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_repeated_wrong_passwords_lock_the_account_out(client, admin):
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = _login(client, "root", "guess")
        assert response.status_code == 200 and "Please enter the correct" in response.text

    locked = _login(client, "root", "guess")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.text
    assert locked["Retry-After"] == str(15 * 60)
    # Even the right password is refused while locked, and no session is created.
    right = _login(client, "root", PASSWORD)
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lockout_ends_after_the_cool_off(client, admin):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _login(client, "root", "guess")
        assert _login(client, "root", PASSWORD).status_code == 429
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        assert _login(client, "root", PASSWORD).status_code == 302
        assert client.session["_auth_user_id"] == str(admin.pk)


def test_guessing_many_accounts_from_one_address_is_locked_too(client, admin, base_policy):
    for name in ["alice", "bob", "carol", "erin", "mallory"][: settings.AXES_FAILURE_LIMIT]:
        _login(client, name, "guess")
    assert _login(client, "root", PASSWORD).status_code == 429


def test_a_successful_login_resets_the_failure_count(client, admin):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "root", "guess")
    assert _login(client, "root", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "root", "guess").status_code == 200


def test_api_clients_get_a_json_lockout(client, admin):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _login(client, "root", "guess", HTTP_ACCEPT="application/json")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.json()["detail"]


def test_authenticate_without_a_request_still_works(admin):
    """Shell and management-command logins have no client to throttle; they are not broken."""
    assert authenticate(username="root", password=PASSWORD) == admin


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "6.6.6.6", "10.0.0.1"),  # no trusted proxy: the header is the client's, ignored
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the proxy appended the real client
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (1, "", "10.0.0.1"),
    ],
)
def test_client_address_behind_trusted_proxies(settings, proxies, forwarded, expected):
    settings.ACCESSPORTAL_TRUSTED_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
    # The API's rate limits count per the same address (one rule, not DRF's NUM_PROXIES).
    assert AnonThrottle().get_ident(request) == expected


def test_admin_sessions_expire_after_inactivity_but_not_while_in_use(client, admin):
    idle = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert settings.SESSION_SAVE_EVERY_REQUEST and idle <= timedelta(hours=1)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert _login(client, "root", PASSWORD).status_code == 302
    # Active use keeps the session alive past its original lifetime...
    at = start
    for _ in range(3):
        at += idle * 0.75
        with time_machine.travel(at, tick=False):
            assert client.get("/admin/").status_code == 200
    # ...and one idle period ends it.
    with time_machine.travel(at + idle + timedelta(seconds=1), tick=False):
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)


def test_pages_forbid_framing_and_carry_a_content_security_policy(client, db):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_the_portal_sign_in_page_locks_out_too(client, requester):
    """Engineers sign in at /accounts/login/: the same lockout as the admin's, as a page."""
    requester.set_password(PASSWORD)
    requester.save()
    portal_login = "/accounts/login/"
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            page = client.post(portal_login, {"username": "alice", "password": "guess"})
            assert page.status_code == 200
        locked = client.post(portal_login, {"username": "alice", "password": "guess"})
        assert locked.status_code == 429
        assert "Too many failed sign-in attempts" in locked.text
        assert locked["Retry-After"] == str(15 * 60)
        assert locked["Content-Type"].startswith("text/html")
        right = client.post(portal_login, {"username": "alice", "password": PASSWORD})
        assert right.status_code == 429 and "_auth_user_id" not in client.session
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        signed_in = client.post(portal_login, {"username": "alice", "password": PASSWORD})
        assert signed_in.status_code == 302 and signed_in["Location"] == "/"
        assert client.session["_auth_user_id"] == str(requester.pk)
