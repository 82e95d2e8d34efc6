"""Floods and password guessing over HTTP: DRF rate limits answer 429 with a message and
`Retry-After`, per address for anonymous clients and per account for tokens; the token
endpoint (a password login) has a limit of its own and django-axes' lockout, shared with
the sign-in pages.

The clock is frozen while a test floods, so a rate window cannot roll over mid-test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from tests.requests_app.api.conftest import url

TOKEN_URL = url("auth/token/")
PASSWORD = "correct horse battery"


def _limit(scope: str) -> tuple[int, int]:
    """(requests, seconds) of a configured rate, read the way DRF reads it."""
    return UserRateThrottle().parse_rate(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope])


def _assert_throttled(response, window: int) -> None:
    assert response.status_code == 429, response.content[:200]
    assert response.json()["detail"].startswith("Request was throttled.")
    assert 0 < int(response["Retry-After"]) <= window


@pytest.fixture
def alice_signs_in(requester):
    requester.set_password(PASSWORD)
    requester.save()
    return {"username": "alice", "password": PASSWORD}


def test_the_documented_default_rates_are_the_configured_ones():
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert rates == {
        "anon": "60/minute",
        "user": "1200/minute",
        "auth_token": "20/minute",
        "cli_login": "60/minute",
    }


def test_rates_are_raised_through_the_environment_not_by_editing_defaults():
    """How the load run (bench/load_mixed.py) lifts the limits for itself."""
    env = {
        **os.environ,
        "API_THROTTLE_ANON": "1/second",
        "API_THROTTLE_USER": "100000/minute",
        "API_THROTTLE_AUTH_TOKEN": "7/hour",
        "DJANGO_SETTINGS_MODULE": "accessportal.settings",
    }
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "'anon': '1/second'" in out and "'user': '100000/minute'" in out
    assert "'auth_token': '7/hour'" in out


def test_an_anonymous_flood_is_429_per_address_with_retry_after(db):
    allowed, window = _limit("anon")
    flooder, other = APIClient(REMOTE_ADDR="203.0.113.9"), APIClient(REMOTE_ADDR="203.0.113.10")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(allowed):
            assert flooder.get("/api/docs/").status_code == 200
        docs = flooder.get("/api/docs/")
        assert docs.status_code == 429 and int(docs["Retry-After"]) <= window
        _assert_throttled(flooder.get(url("no-such-thing/")), window)  # every API view
        assert other.get("/api/docs/").status_code == 200  # another address is unaffected
        clock.shift(timedelta(seconds=window + 1))
        assert flooder.get("/api/docs/").status_code == 200  # and the window ends


def test_a_token_flood_is_429_per_account_from_any_address(api, monkeypatch):
    """A stolen token used from many places shares one budget: the account's."""
    # A small budget for the test; the default (1200/minute) is checked above.
    monkeypatch.setitem(UserRateThrottle.THROTTLE_RATES, "user", "10/minute")
    ivy, alice = api("ivy"), api("alice")
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(10):
            answer = ivy.get(url("me/"), REMOTE_ADDR=f"198.51.100.{i}")
            assert answer.status_code == 200
        _assert_throttled(ivy.get(url("access/check/"), {"role": "x"}, REMOTE_ADDR="192.0.2.1"), 60)
        assert alice.get(url("me/")).status_code == 200  # another account is unaffected


def test_the_token_endpoint_has_its_own_rate_limit_per_address(alice_signs_in):
    allowed, window = _limit("auth_token")
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(allowed):  # right passwords: this is the rate, not the lockout
            assert client.post(TOKEN_URL, alice_signs_in, format="json").status_code == 200
        _assert_throttled(client.post(TOKEN_URL, alice_signs_in, format="json"), window)


def test_password_guessing_on_the_token_endpoint_locks_out_with_429(alice_signs_in):
    """Before this, the lockout answered 400 "Unable to log in", even to the right password."""
    client = APIClient()
    wrong = {"username": "alice", "password": "guess"}
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert client.post(TOKEN_URL, wrong, format="json").status_code == 400
        locked = client.post(TOKEN_URL, wrong, format="json")
        assert locked.status_code == 429
        assert locked.json()["detail"].startswith("Too many failed sign-in attempts")
        assert locked["Retry-After"] == str(settings.AXES_COOLOFF_TIME.seconds)
        right = client.post(TOKEN_URL, alice_signs_in, format="json")
        assert right.status_code == 429 and "token" not in right.json()
    assert not Token.objects.exists()
    with time_machine.travel(start + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)):
        assert client.post(TOKEN_URL, alice_signs_in, format="json").status_code == 200


def test_failures_on_the_sign_in_page_and_the_token_endpoint_count_together(alice_signs_in):
    """One lockout for one person, whichever door is tried."""
    web, cli = APIClient(), APIClient()
    for _ in range(3):
        page = web.post("/accounts/login/", {"username": "alice", "password": "guess"})
        assert page.status_code == 200
    for _ in range(settings.AXES_FAILURE_LIMIT - 3):
        last = cli.post(TOKEN_URL, {"username": "alice", "password": "guess"}, format="json")
    assert last.status_code == 429
    assert web.post("/accounts/login/", {**alice_signs_in}).status_code == 429
    attempts = AccessAttempt.objects.get(username="alice")
    assert attempts.failures_since_start >= settings.AXES_FAILURE_LIMIT


# --- The counting throttles (requests_app/api/throttling.py) ------------------------------


def _anon_calls(throttle_class, rate: str, monkeypatch):
    """A function making one call from one address: True if allowed, else Retry-After."""
    from rest_framework.test import APIRequestFactory

    monkeypatch.setitem(throttle_class.THROTTLE_RATES, "anon", rate)
    factory = APIRequestFactory()

    def call():
        request = factory.get("/", REMOTE_ADDR="203.0.113.77")
        request.user = None
        throttle = throttle_class()
        return True if throttle.allow_request(request, None) else throttle.wait()

    return call


def test_a_burst_across_a_window_boundary_does_not_get_twice_the_limit(monkeypatch):
    from requests_app.api.throttling import AnonThrottle

    call = _anon_calls(AnonThrottle, "10/minute", monkeypatch)
    start = (int(timezone.now().timestamp()) // 60 + 1) * 60  # a window boundary
    with time_machine.travel(start - 6, tick=False) as clock:  # 54 s into a window
        assert [call() for _ in range(10)] == [True] * 10
        assert call() is not True
        clock.shift(12)  # 6 s into the next one: 90% of the last window still counts
        outcome = [call() for _ in range(10)]
    # A fixed window would allow 10 more here; the sliding estimate allows 1.
    assert outcome[0] is True and all(o is not True for o in outcome[1:])


def test_retry_after_is_when_a_call_is_allowed_again(monkeypatch):
    from requests_app.api.throttling import AnonThrottle

    call = _anon_calls(AnonThrottle, "5/minute", monkeypatch)
    start = (int(timezone.now().timestamp()) // 60 + 1) * 60 + 30  # mid-window
    with time_machine.travel(start, tick=False) as clock:
        assert [call() for _ in range(5)] == [True] * 5
        retry_after = call()
        assert 30 <= retry_after <= 60  # the rest of this window, and some of the next
        clock.shift(retry_after - 2)
        assert call() is not True
        clock.shift(2)
        assert call() is True


def test_a_high_rate_limit_keeps_the_throttle_state_small(monkeypatch):
    """DRF's own throttles cached every call's timestamp in the window: at 100,000/minute
    an integration's calls got slower the more it made. These keep one count per window."""
    from django.core.cache import cache

    from requests_app.api.throttling import AnonThrottle

    call = _anon_calls(AnonThrottle, "100000/minute", monkeypatch)
    with time_machine.travel(timezone.now(), tick=False):
        for _ in range(2000):
            assert call() is True
        keys = [k for k in cache._cache if "throttle_anon_203.0.113.77" in k]  # LocMemCache
        assert len(keys) == 1
        assert cache.get(keys[0].split(":", 2)[-1]) == 2000
