"""`accessctl login --sso`, the portal's side: one-time codes, device codes, session tokens."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import ApiToken, CliLogin
from requests_app.services.cli_login import (
    TooManyAttempts,
    cli_code_exchange,
    cli_login_approve,
    device_authorization_start,
    device_code_decide,
    device_token_poll,
    user_code_normalize,
)

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"


def challenge(verifier: str = VERIFIER) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def me_as(key: str):
    return Client(HTTP_AUTHORIZATION=f"Token {key}").get("/api/v1/me/")


@pytest.fixture
def code(requester):
    return cli_login_approve(user=requester, port=51234, code_challenge=challenge())


def test_an_approved_code_buys_a_token_that_acts_as_the_approver_for_the_ttl(
    requester, code, settings
):
    minted = cli_code_exchange(code=code, code_verifier=VERIFIER)
    assert minted.user == requester
    assert minted.key.startswith("apt_")
    ttl = minted.expires_at - timezone.now()
    assert timedelta(seconds=settings.ACCESSPORTAL_CLI_TOKEN_TTL - 5) < ttl
    response = me_as(minted.key)
    assert response.status_code == 200 and response.json()["user"] == "alice"
    stored = ApiToken.objects.get(user=requester)
    assert stored.created_via == "cli:loopback"
    assert minted.key not in stored.key_hash and code not in CliLogin.objects.get().code_hash


def test_approval_and_token_are_audited_without_the_key(requester, code):
    minted = cli_code_exchange(code=code, code_verifier=VERIFIER)
    approved, created = AuditEvent.objects.order_by("-id")[:2][::-1]
    assert approved.action == "cli_login.approved" and approved.data["port"] == 51234
    assert created.action == "api_token.created" and created.data["via"] == "cli:loopback"
    assert minted.key not in str(created.data) and code not in str(approved.data)


def test_a_wrong_verifier_is_refused_and_leaves_the_code_usable(code):
    with pytest.raises(ValidationFailed, match="code_verifier does not match"):
        cli_code_exchange(code=code, code_verifier="x" * 43)
    assert ApiToken.objects.count() == 0
    cli_code_exchange(code=code, code_verifier=VERIFIER)


def test_a_code_works_once(code):
    cli_code_exchange(code=code, code_verifier=VERIFIER)
    with pytest.raises(ValidationFailed, match="already used"):
        cli_code_exchange(code=code, code_verifier=VERIFIER)
    assert ApiToken.objects.count() == 1


def test_a_code_expires_after_a_minute(code):
    later = timezone.now() + timedelta(seconds=61)
    with time_machine.travel(later), pytest.raises(ValidationFailed, match="expired"):
        cli_code_exchange(code=code, code_verifier=VERIFIER)


@pytest.mark.parametrize(
    ("port", "state", "message"),
    [
        (80, "s" * 16, "port must be a number from 1024 to 65535"),
        ("70000", "s" * 16, "port must be"),
        ("12a", "s" * 16, "port must be"),
        (5000, "bad state!", "state must be"),
    ],
)
def test_loopback_parameters_are_checked(requester, port, state, message):
    from requests_app.services.cli_login import loopback_params_check

    with pytest.raises(ValidationFailed, match=message):
        loopback_params_check(port=port, state=state, code_challenge=challenge())
    with pytest.raises(ValidationFailed, match="code_challenge"):
        cli_login_approve(user=requester, port=5000, code_challenge="short")


def test_an_expired_session_token_is_refused_with_a_clear_401(code):
    minted = cli_code_exchange(code=code, code_verifier=VERIFIER)
    with time_machine.travel(minted.expires_at):
        response = me_as(minted.key)
    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert response.json()["detail"].startswith("Token expired: your session ended at ")


def test_an_inactive_users_session_token_is_refused(requester, code):
    minted = cli_code_exchange(code=code, code_verifier=VERIFIER)
    requester.is_active = False
    requester.save(update_fields=["is_active"])
    response = me_as(minted.key)
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


def test_malformed_session_keys_are_refused_like_unknown_ones(db):
    for key in ("apt_" + "0" * 48, "apt_" + "0" * 47 + "\x00", "apt_zz"):
        response = me_as(key)
        assert response.status_code == 401 and response.json()["detail"] == "Invalid token."


# -- device flow ---------------------------------------------------------------------------


def test_device_flow_pending_then_approved_gives_the_approvers_token(requester):
    started = device_authorization_start()
    assert user_code_normalize(started.user_code) == started.user_code
    assert device_token_poll(device_code=started.device_code).error.code == (
        "authorization_pending"
    )
    device_code_decide(user=requester, user_code=started.user_code.lower(), approve=True)
    poll = device_token_poll(device_code=started.device_code)
    assert poll.token.user == requester
    assert ApiToken.objects.get().created_via == "cli:device"
    assert device_token_poll(device_code=started.device_code).error.code == "invalid_grant"
    actions = list(AuditEvent.objects.order_by("-id").values_list("action", flat=True)[:2])
    assert actions == ["api_token.created", "cli_login.approved"]


def test_polling_too_fast_is_told_to_slow_down(db):
    started = device_authorization_start()
    with time_machine.travel(timezone.now(), tick=False) as clock:
        device_token_poll(device_code=started.device_code)
        clock.shift(1)
        assert device_token_poll(device_code=started.device_code).error.code == "slow_down"
        clock.shift(started.interval + 1)  # the interval is now 5 seconds longer: 10
        assert device_token_poll(device_code=started.device_code).error.code == "slow_down"
        clock.shift(started.interval + 11)  # and now 15
        poll = device_token_poll(device_code=started.device_code)
    assert poll.error.code == "authorization_pending"


def test_a_denied_device_code_answers_access_denied(requester):
    started = device_authorization_start()
    device_code_decide(user=requester, user_code=started.user_code, approve=False)
    assert device_token_poll(device_code=started.device_code).error.code == "access_denied"
    assert AuditEvent.objects.latest("id").action == "cli_login.denied"


def test_an_expired_device_code_answers_expired_token(requester, settings):
    started = device_authorization_start()
    later = timezone.now() + timedelta(seconds=settings.ACCESSPORTAL_CLI_DEVICE_TTL + 1)
    with time_machine.travel(later):
        assert device_token_poll(device_code=started.device_code).error.code == "expired_token"
        with pytest.raises(ValidationFailed, match="no sign-in is waiting"):
            device_code_decide(user=requester, user_code=started.user_code, approve=True)


def test_guessing_user_codes_is_stopped(requester, settings):
    settings.ACCESSPORTAL_CLI_USER_CODE_GUESSES = 3
    started = device_authorization_start()
    for guess in ("BBBB-BBBB", "CCCC-CCCC", "not a code"):
        with pytest.raises(ValidationFailed):
            device_code_decide(user=requester, user_code=guess, approve=True)
    with pytest.raises(TooManyAttempts):
        device_code_decide(user=requester, user_code=started.user_code, approve=True)
    assert CliLogin.objects.get().state == "pending"


def test_deprovisioning_cancels_an_approved_code_not_yet_exchanged(requester, code):
    """Approved in the browser, then the person leaves before the CLI trades the code: the
    code buys nothing (else it would mint a token after the deprovisioning)."""
    from requests_app.services.deprovision import user_deprovision

    user_deprovision(user_id=requester.pk, actor="scim:okta", reason="left")
    assert CliLogin.objects.get().state == "denied"
    with pytest.raises(ValidationFailed):
        cli_code_exchange(code=code, code_verifier=VERIFIER)
    assert ApiToken.objects.count() == 0
