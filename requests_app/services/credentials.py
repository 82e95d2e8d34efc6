"""Signed access credentials: short-lived JWTs of a user's open access, and their keys.

`credential_issue` signs, with the key that signs now, the caller's standing roles and the
grants open now; the token expires at the earliest end of those grants and at most
CREDENTIAL_MAX_LIFETIME after it was issued, so a downstream service that checks `exp`
ends access on time even with every Access Portal process down.

Keys rotate with overlap (`signing_key_rotate`): a new key is in the JWKS at once and
signs only CREDENTIAL_KEY_PUBLISH_AHEAD later (downstream caches have fetched it by then);
the key it replaces stops signing when it starts and stays in the JWKS for
CREDENTIAL_MAX_LIFETIME more, until every credential it signed has expired. These are
times written on the rows and compared with the clock when the JWKS is served, so keys
leave it on time with no worker running. `signing_key_retire` takes a key out at once (a
leak). Both are audited; the first credential with no key makes one (`signing_key_ensure`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    Unprocessable,
)
from accessportal.kernel.locking import retry_on_conflict
from requests_app.credential_models import SigningKey
from requests_app.selectors.credentials import credential_subject
from requests_app.services.signing_keys import key_for, key_generate
from requests_app.services.usage import grant_usage_record

TARGET = "signing_key"


@dataclass(frozen=True)
class Credential:
    token: str
    expires: datetime
    kid: str
    claims: dict


def _lifetime() -> timedelta:
    return timedelta(seconds=settings.CREDENTIAL_MAX_LIFETIME)


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def _entry(action: str, key: SigningKey, actor, **data) -> AuditEntry:
    data = {"alg": key.alg, **{k: _stamp(v) if isinstance(v, datetime) else v
                                for k, v in data.items()}}  # fmt: skip
    return AuditEntry(action, TARGET, key.kid, actor, data)


def _insert_current(new: SigningKey) -> None:
    """Insert the new current key; a concurrent rotation or first key already did: Conflict."""
    try:
        with transaction.atomic():
            new.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            "another signing key was made at the same time: see `credential_keys list`"
        ) from None


@retry_on_conflict
@transaction.atomic
def signing_key_rotate(
    *, alg: str | None = None, immediately: bool = False, actor=None
) -> SigningKey:
    """A new key, in the JWKS now; it signs after CREDENTIAL_KEY_PUBLISH_AHEAD (at once
    with `immediately`, or when no key signs now). The key signing now stops when it
    starts and stays published CREDENTIAL_MAX_LIFETIME longer; a key still waiting to
    sign after that start never signs and is retired now."""
    now = timezone.now()
    material = key_generate(alg or settings.CREDENTIAL_ALG)
    live = list(SigningKey.objects.live_at(now).select_for_update().order_by("signs_from", "id"))
    signing_now = any(key.signs_from <= now for key in live)
    ahead = timedelta(seconds=settings.CREDENTIAL_KEY_PUBLISH_AHEAD)
    starts = now if immediately or not signing_now else now + ahead
    audit = []
    for key in live:
        if key.signs_from >= starts:  # never signed, and never will
            key.signs_until, key.retired_at = key.signs_from, now
            audit.append(_entry("signing_key.retired", key, actor, reason="replaced"))
        else:
            key.signs_until = min(key.signs_until or starts, starts)
            key.retired_at = key.signs_until + _lifetime()
            audit.append(
                _entry("signing_key.superseded", key, actor, signs_until=key.signs_until,
                       published_until=key.retired_at)
            )  # fmt: skip
        key.current = False
        key.save(update_fields=["signs_until", "retired_at", "current"])
    new = SigningKey(
        kid=material.kid, alg=material.alg, public_jwk=material.public_jwk,
        private_key=material.sealed, kek_id=material.kek_id, created=now, signs_from=starts,
        current=True,
    )  # fmt: skip
    _insert_current(new)
    audit.insert(0, _entry("signing_key.created", new, actor, signs_from=starts))
    audit_record_many(audit)
    return new


@retry_on_conflict
@transaction.atomic
def signing_key_retire(*, kid: str, actor=None) -> SigningKey:
    """Take a key out of the JWKS now (a leaked key): credentials it signed stop verifying
    once downstream caches refresh. If it was signing, its published successor signs from
    now, or the next credential makes a new key; a successor retired before it signed
    leaves its predecessor signing as before."""
    now = timezone.now()
    live = {k.kid: k for k in SigningKey.objects.published_at(now).select_for_update()}
    key = live.get(kid)
    if key is None:
        if SigningKey.objects.filter(kid=kid).exists():
            raise Conflict(f"signing key {kid} is already retired")
        raise NotFound(f"no signing key {kid}", field="kid")
    was_signing = key.status_at(now) == "signing"
    pending = key.signs_from > now
    key.signs_until = key.signs_from if pending else min(key.signs_until or now, now)
    key.retired_at, was_current, key.current = now, key.current, False
    key.save(update_fields=["signs_until", "retired_at", "current"])
    audit = [_entry("signing_key.retired", key, actor, reason="retired")]
    others = [k for k in live.values() if k.kid != kid]
    if was_current and pending:
        # The predecessor handed over at this key's start: it keeps signing, unbounded.
        before = [k for k in others if k.signs_until == key.signs_from]
        for k in before:
            k.signs_until, k.retired_at, k.current = None, None, True
            k.save(update_fields=["signs_until", "retired_at", "current"])
            audit.append(_entry("signing_key.reinstated", k, actor))
    elif was_signing:
        for k in others:
            if k.current and k.signs_from > now:
                k.signs_from = now
                k.save(update_fields=["signs_from"])
                audit.append(_entry("signing_key.signs_early", k, actor, signs_from=now))
    audit_record_many(audit)
    return key


@retry_on_conflict
@transaction.atomic
def signing_key_ensure() -> SigningKey:
    """The key signing now; with none, a new one that signs at once (zero setup: the first
    credential makes the first key). Two first credentials at once make one key."""
    now = timezone.now()
    key = SigningKey.objects.signing_at(now).first()
    if key is not None:
        return key
    material = key_generate(settings.CREDENTIAL_ALG)
    new = SigningKey(
        kid=material.kid, alg=material.alg, public_jwk=material.public_jwk,
        private_key=material.sealed, kek_id=material.kek_id, created=now, signs_from=now,
        current=True,
    )  # fmt: skip
    try:
        with transaction.atomic():
            new.save(force_insert=True)
    except IntegrityError:  # another process made it first (it signs from its own now)
        winner = SigningKey.objects.signing_at(timezone.now()).first()
        if winner is None:
            raise Conflict(
                "no signing key signs now and one is waiting to start: "
                "run `manage.py credential_keys rotate --now`"
            ) from None
        return winner
    audit_record_many([_entry("signing_key.created", new, None, signs_from=now, on_demand=True)])
    return new


def _audience(requested: str | None) -> str:
    if not requested:
        return settings.CREDENTIAL_AUDIENCE
    allowed = {settings.CREDENTIAL_AUDIENCE, *settings.CREDENTIAL_AUDIENCES}
    if requested not in allowed:
        raise Unprocessable(
            f"audience {requested!r} is not allowed; allowed: {', '.join(sorted(allowed))}",
            field="audience",
        )
    return requested


def _numeric(at: datetime) -> int:
    """A JWT NumericDate, rounded down: never later than the instant it stands for."""
    return int(at.timestamp())


def credential_issue(*, user: AbstractBaseUser, audience: str | None = None) -> Credential:
    """A signed credential of `user`'s open access now: `roles` (standing) and `grants`
    (each with its end and request), expiring at the earliest grant end and at most
    CREDENTIAL_MAX_LIFETIME from now. An inactive user gets none. Writes nothing (but the
    first key, through `signing_key_ensure`, and the grants' use: `grant_usage_record`)."""
    if not user.is_active:
        raise NotAllowed("an inactive account gets no credentials")
    aud = _audience(audience)
    now = timezone.now()
    subject = credential_subject(user_id=user.pk, at=now)
    if subject.signer is None:
        first = signing_key_ensure()
        kid, alg = first.kid, first.alg
    else:
        kid, alg = subject.signer
    key = key_for(kid)
    expires = min([now + _lifetime(), *(g.expires for g in subject.grants)])
    iat = _numeric(now)
    claims = {
        "iss": settings.CREDENTIAL_ISSUER,
        "sub": user.get_username(),
        "aud": aud,
        "iat": iat,
        "nbf": iat,
        "exp": _numeric(expires),
        "jti": str(uuid.uuid4()),
        "roles": subject.roles,
        "grants": [
            {
                **({"role": g.role} if g.role else {"resource": g.resource}),
                "expires": _numeric(g.expires),
                "request": g.request_id,
            }
            for g in subject.grants
        ],  # fmt: skip
    }
    token = jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, algorithms=[alg])
    # Issuing the credential is a use of every grant in it (never raises: services.usage).
    grant_usage_record(
        user_id=user.pk,
        roles=[g.role for g in subject.grants],
        resources=[g.resource for g in subject.grants],
        at=now,
    )
    return Credential(
        token=token,
        expires=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
        kid=kid,
        claims=claims,
    )
