"""`accessctl login --sso`: a person signed in to the portal hands the CLI a session token.

Two flows, one table (`CliLogin`), one place that mints (`tokens.api_token_mint`):
- loopback (RFC 8252 with PKCE, RFC 7636): the signed-in person confirms on /cli/login/; a
  one-time code bound to them and to the CLI's S256 challenge goes back to the CLI's
  127.0.0.1 listener; the CLI trades code + verifier for a token (`cli_code_exchange`).
- device (RFC 8628): the CLI gets a device code and a short user code; the person enters
  the user code on /cli/device/ and approves; the CLI polls (`device_token_poll`).
Codes are stored as SHA-256 digests, used once, and expire (ACCESSPORTAL_CLI_CODE_TTL,
ACCESSPORTAL_CLI_DEVICE_TTL). Approvals and minted tokens are audited; keys never are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import DomainError, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from requests_app.models import CliLogin
from requests_app.services.tokens import MintedToken, api_token_mint, digest
from requests_app.token_models import CliLoginFlow, CliLoginState

PORT_MIN, PORT_MAX = 1024, 65535
STATE_RE = re.compile(r"[A-Za-z0-9._~-]{8,128}")
CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url(SHA-256), unpadded
VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 section 4.1
# RFC 8628 section 6.1: no vowels (no words), no look-alike digits; 20^8 codes.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
GUESS_WINDOW = 15 * 60
PURGE_AFTER = timedelta(days=1)


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


class DeviceFlowError(ValidationFailed):
    """An RFC 8628 token error (RFC 6749's `invalid_grant` for the code exchange too): `code`
    is the RFC's `error` value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _now() -> datetime:
    return timezone.now()


def _purge_old(now: datetime) -> None:
    """Sign-ins long past their expiry are of no use to anyone: drop them as new ones come."""
    CliLogin.objects.filter(expires_at__lt=now - PURGE_AFTER).delete()


def _port(port: object) -> int:
    try:
        number = int(str(port))
    except ValueError:
        number = 0
    if not PORT_MIN <= number <= PORT_MAX:
        raise ValidationFailed(f"port must be a number from {PORT_MIN} to {PORT_MAX}", field="port")
    return number


def _challenge(code_challenge: object) -> str:
    if not isinstance(code_challenge, str) or not CHALLENGE_RE.fullmatch(code_challenge):
        raise ValidationFailed(
            "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            field="code_challenge",
        )
    return code_challenge


def loopback_params_check(*, port: object, state: object, code_challenge: object) -> int:
    """The port (an int in 1024-65535), state and S256 challenge the CLI sent, checked before
    anything is shown; ValidationFailed names the bad one. Returns the port."""
    number = _port(port)
    if not isinstance(state, str) or not STATE_RE.fullmatch(state):
        raise ValidationFailed("state must be 8 to 128 URL-safe characters", field="state")
    _challenge(code_challenge)
    return number


@retry_on_conflict
@transaction.atomic
def cli_login_approve(*, user: AbstractBaseUser, port: object, code_challenge: str) -> str:
    """The signed-in `user` confirmed a loopback sign-in: a one-time code bound to them and
    to `code_challenge`, valid ACCESSPORTAL_CLI_CODE_TTL seconds. Returns the code (only
    its digest is kept). Caller: a POST with CSRF from a signed-in session."""
    number, challenge = _port(port), _challenge(code_challenge)
    now = _now()
    _purge_old(now)
    code = secrets.token_urlsafe(32)
    login = CliLogin.objects.create(
        flow=CliLoginFlow.LOOPBACK,
        code_hash=digest(code),
        code_challenge=challenge,
        port=number,
        user=user,
        state=CliLoginState.APPROVED,
        created=now,
        expires_at=now + timedelta(seconds=settings.ACCESSPORTAL_CLI_CODE_TTL),
    )
    _audit_decision(login, user, approved=True)
    return code


def _s256(verifier: str) -> str:
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@retry_on_conflict
@transaction.atomic
def cli_code_exchange(*, code: object, code_verifier: object) -> MintedToken:
    """A session token for the person who approved `code`, if `code_verifier` matches its
    challenge; the code works once and for ACCESSPORTAL_CLI_CODE_TTL seconds. Anything
    else is ValidationFailed with the reason (no token, nothing changed): DeviceFlowError
    `invalid_grant` for a code unknown, used or expired."""
    if not isinstance(code, str) or not 1 <= len(code) <= 128:
        raise ValidationFailed("code is missing or malformed", field="code")
    if not isinstance(code_verifier, str) or not VERIFIER_RE.fullmatch(code_verifier):
        raise ValidationFailed(
            "code_verifier must be 43 to 128 URL-safe characters", field="code_verifier"
        )
    login = (
        CliLogin.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(code_hash=digest(code), flow=CliLoginFlow.LOOPBACK)
        .first()
    )
    now = _now()
    # RFC 6749 section 5.2: a code that cannot be traded is `invalid_grant`, not bad input.
    if login is None:
        raise DeviceFlowError("invalid_grant", "unknown code: run `accessctl login --sso` again")
    if login.state == CliLoginState.USED:
        raise DeviceFlowError("invalid_grant", "this code was already used")
    if login.expires_at <= now:
        raise DeviceFlowError(
            "invalid_grant", "this code expired: run `accessctl login --sso` again"
        )
    if not hmac.compare_digest(_s256(code_verifier), login.code_challenge):
        raise ValidationFailed(
            "code_verifier does not match the code's challenge", field="code_verifier"
        )
    if not login.user.is_active:
        raise ValidationFailed("the account that approved this code is inactive", field="code")
    login.state = CliLoginState.USED
    login.save(update_fields=["state"])
    return api_token_mint(user=login.user, via="cli:loopback", now=now)  # audits, last


@dataclass(frozen=True)
class DeviceAuthorization:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


def _user_code() -> str:
    letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{letters[:4]}-{letters[4:]}"


def user_code_normalize(text: object) -> str:
    """What a person typed (`wdjb mjht`, `WDJBMJHT`) as stored (`WDJB-MJHT`); "" if it
    cannot be one."""
    letters = re.sub(r"[^A-Z]", "", str(text or "").upper()[:64])
    if len(letters) != USER_CODE_LENGTH or set(letters) - set(USER_CODE_ALPHABET):
        return ""
    return f"{letters[:4]}-{letters[4:]}"


@retry_on_conflict
@transaction.atomic
def device_authorization_start() -> DeviceAuthorization:
    """A device code for the CLI and a user code for the person (RFC 8628 section 3.2),
    pending until someone signed in approves it on /cli/device/. Anonymous: nothing is
    granted until then."""
    now = _now()
    _purge_old(now)
    device_code = secrets.token_urlsafe(32)
    user_code = _user_code()
    while CliLogin.objects.filter(user_code=user_code).exists():  # 1 in 2.5e10
        user_code = _user_code()
    CliLogin.objects.create(
        flow=CliLoginFlow.DEVICE,
        code_hash=digest(device_code),
        user_code=user_code,
        state=CliLoginState.PENDING,
        created=now,
        expires_at=now + timedelta(seconds=settings.ACCESSPORTAL_CLI_DEVICE_TTL),
        interval=settings.ACCESSPORTAL_CLI_DEVICE_INTERVAL,
    )
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        expires_in=settings.ACCESSPORTAL_CLI_DEVICE_TTL,
        interval=settings.ACCESSPORTAL_CLI_DEVICE_INTERVAL,
    )


def _guess_key(user: AbstractBaseUser) -> str:
    return f"cli-user-code-guesses:{user.pk}"


@retry_on_conflict
@transaction.atomic
def device_code_decide(*, user: AbstractBaseUser, user_code: object, approve: bool) -> None:
    """The signed-in `user` approves (their CLI gets a token as them) or denies the device
    sign-in showing `user_code`. Unknown codes count as guesses: after
    ACCESSPORTAL_CLI_USER_CODE_GUESSES in 15 minutes, TooManyAttempts."""
    key = _guess_key(user)
    if cache.get(key, 0) >= settings.ACCESSPORTAL_CLI_USER_CODE_GUESSES:
        raise TooManyAttempts("too many wrong codes: wait 15 minutes and try again")
    normalized = user_code_normalize(user_code)
    now = _now()
    login = (
        CliLogin.objects.select_for_update(of=("self",))
        .filter(user_code=normalized, flow=CliLoginFlow.DEVICE, expires_at__gt=now)
        .first()
        if normalized
        else None
    )
    if login is None or login.state != CliLoginState.PENDING:
        if login is None:
            if not cache.add(key, 1, GUESS_WINDOW):
                cache.incr(key)
            raise ValidationFailed(
                "no sign-in is waiting for this code: check it, or start again with "
                "`accessctl login --sso --device`",
                field="user_code",
            )
        raise ValidationFailed("this code was already used", field="user_code")
    login.state = CliLoginState.APPROVED if approve else CliLoginState.DENIED
    login.user = user
    login.save(update_fields=["state", "user"])
    _audit_decision(login, user, approved=approve)


@dataclass(frozen=True)
class DevicePoll:
    """What a poll found: a token, or the RFC 8628 error to answer with."""

    token: MintedToken | None = None
    error: DeviceFlowError | None = None


@retry_on_conflict
@transaction.atomic
def device_token_poll(*, device_code: object) -> DevicePoll:
    """The CLI asks whether its device sign-in was approved. A poll sooner than `interval`
    after the last one is answered slow_down and widens the interval by 5 seconds (RFC
    8628 section 3.5); the poll time is kept, so errors return rather than raise."""
    if not isinstance(device_code, str) or not 1 <= len(device_code) <= 128:
        raise ValidationFailed("device_code is missing or malformed", field="device_code")
    login = (
        CliLogin.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(code_hash=digest(device_code), flow=CliLoginFlow.DEVICE)
        .first()
    )
    if login is None or login.state == CliLoginState.USED:
        return DevicePoll(error=DeviceFlowError("invalid_grant", "unknown or already used code"))
    now = _now()
    if login.expires_at <= now:
        return DevicePoll(
            error=DeviceFlowError("expired_token", "the code expired: start the sign-in again")
        )
    if login.state == CliLoginState.DENIED:
        return DevicePoll(error=DeviceFlowError("access_denied", "the sign-in was denied"))
    if login.state == CliLoginState.APPROVED and not login.user.is_active:
        return DevicePoll(error=DeviceFlowError("access_denied", "the account is inactive"))
    if login.state == CliLoginState.APPROVED:
        login.state = CliLoginState.USED
        login.save(update_fields=["state"])
        return DevicePoll(token=api_token_mint(user=login.user, via="cli:device", now=now))
    too_soon = login.last_polled_at and now - login.last_polled_at < timedelta(
        seconds=login.interval
    )
    login.last_polled_at = now
    if too_soon:
        login.interval += 5
        login.save(update_fields=["last_polled_at", "interval"])
        return DevicePoll(
            error=DeviceFlowError("slow_down", f"polling too fast: wait {login.interval} seconds")
        )
    login.save(update_fields=["last_polled_at"])
    return DevicePoll(
        error=DeviceFlowError("authorization_pending", "waiting for the code to be approved")
    )


def _audit_decision(login: CliLogin, user: AbstractBaseUser, *, approved: bool) -> None:
    data = {"user": user.get_username(), "flow": login.flow}
    if login.port:
        data["port"] = login.port
    if login.user_code:
        data["user_code"] = login.user_code
    audit_record(
        action="cli_login.approved" if approved else "cli_login.denied",
        target_type="user",
        target_id=str(user.pk),
        actor=user,
        data=data,
    )
