"""Signed access credentials: what a token says, when it ends, and how its keys rotate.

Every token here is verified as a downstream service would, with PyJWT and only the
published JWKS (`selectors.credentials.jwks`, the body of /.well-known/jwks.json); the
HTTP path is proved in tests/requests_app/api/test_credentials_live.py.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import jwt
import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accessportal.kernel.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from accessportal.kernel.models import AuditEvent
from policies_app.selectors import standing_role_names
from requests_app.credential_models import SigningKey
from requests_app.selectors.access import active_grants
from requests_app.selectors.credentials import credential_subject, jwks
from requests_app.services.access_requests import access_request_create
from requests_app.services.credentials import (
    credential_issue,
    signing_key_retire,
    signing_key_rotate,
)
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit
from requests_app.services.signing_keys import CredentialKeyUnusable, kek
from tests.concurrency import run_together

ALGORITHMS = ["EdDSA", "ES256"]
T0 = "2026-05-01 10:00Z"


def verify(token: str, *, audience: str = "accessportal", keys: dict | None = None) -> dict:
    """What a downstream service does: the key named by the token's kid, from the JWKS."""
    keys = keys or jwks()
    kid = jwt.get_unverified_header(token)["kid"]
    key_set = jwt.PyJWKSet.from_dict(keys).keys if keys["keys"] else []
    key = next((k for k in key_set if k.key_id == kid), None)
    if key is None:
        raise jwt.InvalidKeyError(f"kid {kid} is not in the JWKS")
    return jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=audience)


def grant(requester, reviewer, role: str, duration: str):
    request = access_request_create(
        requester=requester, roles=[role], reason="INC-7", max_duration=duration
    )
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


def published_kids() -> set[str]:
    return {key["kid"] for key in jwks()["keys"]}


def test_credential_says_standing_roles_and_open_grants_and_ends_with_the_first(
    requester, reviewer, settings
):
    settings.CREDENTIAL_MAX_LIFETIME = 3600
    short = grant(requester, reviewer, "db-admin", "30m")
    long = grant(requester, reviewer, "dev-admin", "2h")

    credential = credential_issue(user=requester)
    claims = verify(credential.token)

    assert claims["sub"] == "alice" and claims["iss"] == "accessportal"
    assert claims["roles"] == ["engineer"]
    assert claims["grants"] == [
        {"role": "db-admin", "expires": int(short.access_expires.timestamp()),
         "request": str(short.id)},
        {"role": "dev-admin", "expires": int(long.access_expires.timestamp()),
         "request": str(long.id)},
    ]  # fmt: skip
    assert claims["exp"] == int(short.access_expires.timestamp())
    assert claims["nbf"] == claims["iat"] and claims["exp"] > claims["iat"]
    assert credential.expires.timestamp() == claims["exp"] and credential.claims == claims
    assert credential.kid == jwt.get_unverified_header(credential.token)["kid"]


def test_standing_access_only_lives_the_maximum_lifetime(requester):
    claims = verify(credential_issue(user=requester).token)
    assert claims["grants"] == []
    assert claims["exp"] - claims["iat"] == 300


def test_revoked_and_ended_grants_are_not_in_the_credential(requester, reviewer, settings):
    settings.CREDENTIAL_MAX_LIFETIME = 3600
    with time_machine.travel(T0, tick=False):
        ended = grant(requester, reviewer, "dev-admin", "30m")
    revoked = grant(requester, reviewer, "db-admin", "2h")
    access_request_revoke(request_id=revoked.id, actor=requester, reason="done")
    kept = grant(requester, reviewer, "reviewer", "1h")

    claims = verify(credential_issue(user=requester).token)

    assert [g["request"] for g in claims["grants"]] == [str(kept.id)]
    assert str(ended.id) not in str(claims) and str(revoked.id) not in str(claims)


def test_a_token_ends_on_time_downstream_with_nothing_else_running(requester, reviewer):
    with time_machine.travel(T0, tick=False):
        token = credential_issue(user=requester).token
        keys = jwks()
    # 301 s later, with no Access Portal process asked anything:
    with time_machine.travel("2026-05-01 10:05:01Z"), pytest.raises(jwt.ExpiredSignatureError):
        verify(token, keys=keys)


def test_audience_is_the_default_or_one_of_the_allowed(requester, settings):
    settings.CREDENTIAL_AUDIENCES = ["billing-api"]
    token = credential_issue(user=requester, audience="billing-api").token
    assert verify(token, audience="billing-api")["aud"] == "billing-api"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token)
    with pytest.raises(ValidationFailed, match="audience 'payroll' is not allowed"):
        credential_issue(user=requester, audience="payroll")


def test_an_inactive_user_gets_no_credential(requester):
    requester.is_active = False
    requester.save()
    with pytest.raises(NotAllowed):
        credential_issue(user=requester)


def test_first_credential_makes_the_first_key_audited(requester):
    assert not SigningKey.objects.exists()
    first = credential_issue(user=requester)
    second = credential_issue(user=requester)
    assert SigningKey.objects.count() == 1 and first.kid == second.kid
    event = AuditEvent.objects.get(action="signing_key.created")
    assert event.target_id == first.kid and event.data["on_demand"] is True


def test_rotation_publishes_ahead_and_keeps_the_old_key_until_its_tokens_expire(requester):
    with time_machine.travel(T0, tick=False):
        old = signing_key_rotate(immediately=True)
        new = signing_key_rotate()  # signs after CREDENTIAL_KEY_PUBLISH_AHEAD (600 s)
        assert published_kids() == {old.kid, new.kid}  # downstream can fetch it already
        assert credential_issue(user=requester).kid == old.kid  # not before signs_from
    last_by_old = "2026-05-01 10:09:59Z"
    with time_machine.travel(last_by_old, tick=False):
        late_token = credential_issue(user=requester)
        assert late_token.kid == old.kid
    with time_machine.travel("2026-05-01 10:10:00Z", tick=False):
        assert credential_issue(user=requester).kid == new.kid
    with time_machine.travel("2026-05-01 10:14:58Z", tick=False):
        # The old key's last token is still alive and still verifies with the JWKS.
        assert published_kids() == {old.kid, new.kid}
        assert verify(late_token.token)["sub"] == "alice"
    with time_machine.travel("2026-05-01 10:15:00Z", tick=False):
        # CREDENTIAL_MAX_LIFETIME after it stopped signing: out, and listed as retired.
        assert published_kids() == {new.kid}
        assert SigningKey.objects.get(kid=old.kid).status_at(timezone.now()) == "retired"
    actions = list(AuditEvent.objects.filter(target_type="signing_key").values_list("action"))
    assert actions == [("signing_key.created",), ("signing_key.created",),
                       ("signing_key.superseded",)]  # fmt: skip


def test_the_first_rotated_key_signs_at_once(requester):
    key = signing_key_rotate()
    assert credential_issue(user=requester).kid == key.kid


def test_retire_drops_a_key_from_the_jwks_at_once(requester):
    leaked = credential_issue(user=requester)
    keys_before = jwks()
    signing_key_retire(kid=leaked.kid)
    assert leaked.kid not in published_kids()
    with pytest.raises(jwt.InvalidKeyError):
        verify(leaked.token)
    # Verified with a JWKS cached before the retirement it still holds: downstream caches
    # keep it for at most CREDENTIAL_JWKS_MAX_AGE.
    assert verify(leaked.token, keys=keys_before)["sub"] == "alice"
    fresh = credential_issue(user=requester)
    assert fresh.kid != leaked.kid and published_kids() == {fresh.kid}
    with pytest.raises(Conflict, match="already retired"):
        signing_key_retire(kid=leaked.kid)
    with pytest.raises(NotFound):
        signing_key_retire(kid="no-such-key")


def test_retiring_a_waiting_successor_leaves_its_predecessor_signing(requester):
    with time_machine.travel(T0, tick=False):
        old = signing_key_rotate(immediately=True)
        new = signing_key_rotate()
        signing_key_retire(kid=new.kid)
    with time_machine.travel("2026-05-01 11:00Z", tick=False):
        assert credential_issue(user=requester).kid == old.kid
        assert published_kids() == {old.kid}


def test_retiring_the_signing_key_lets_its_published_successor_sign_now(requester):
    with time_machine.travel(T0, tick=False):
        old = signing_key_rotate(immediately=True)
        new = signing_key_rotate()
        signing_key_retire(kid=old.kid)
        assert credential_issue(user=requester).kid == new.kid
        assert published_kids() == {new.kid}


def test_es256_keys_sign_and_verify(requester):
    key = signing_key_rotate(alg="ES256", immediately=True)
    token = credential_issue(user=requester).token
    assert jwt.get_unverified_header(token)["alg"] == "ES256" and key.public_jwk["crv"] == "P-256"
    assert verify(token)["sub"] == "alice"


def test_the_private_key_is_never_stored_or_published_in_clear(requester):
    credential_issue(user=requester)
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key, public_jwk FROM requests_app_signingkey")
        (sealed, public), *_ = cursor.fetchall()
    assert "PRIVATE KEY" not in sealed and sealed.startswith("aesgcm1:")
    assert b"PRIVATE KEY" not in base64.b64decode(sealed.removeprefix("aesgcm1:"))
    assert '"d"' not in str(public) and "'d'" not in str(public)
    assert all("d" not in key for key in jwks()["keys"])
    audit = list(AuditEvent.objects.filter(target_type="signing_key").values_list("data"))
    assert audit and sealed[10:40] not in str(audit)


def test_a_key_sealed_under_another_kek_is_refused_clearly_then_replaced(requester, settings):
    settings.ACCESSPORTAL_CREDENTIAL_KEY = base64.b64encode(b"k" * 32).decode()
    old = credential_issue(user=requester)
    settings.ACCESSPORTAL_CREDENTIAL_KEY = base64.b64encode(b"j" * 32).decode()
    with pytest.raises(CredentialKeyUnusable, match="another key-encryption key") as refused:
        credential_issue(user=requester)
    assert refused.value.status == 503 and "credential_keys rotate --now" in refused.value.message
    call_command("credential_keys", "rotate", "--now")
    assert credential_issue(user=requester).kid != old.kid


def test_a_rotated_secret_key_kept_as_a_fallback_still_opens_the_signing_key(requester, settings):
    """docs/deploy.md "Rotating the secret key": with the old key in
    DJANGO_SECRET_KEY_FALLBACKS credentials keep coming; the next rotation seals its key
    under the new one, after which the fallback is not needed."""
    settings.ACCESSPORTAL_CREDENTIAL_KEY = ""
    old_secret, new_secret = "o" * 25 + "ld-secret-key-Zq8vN3xR7pL2mW9tY4bH6", "n" * 50
    settings.SECRET_KEY = old_secret
    with time_machine.travel(T0, tick=False):
        before = credential_issue(user=requester)
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = new_secret, [old_secret]
        after = credential_issue(user=requester)
        assert after.kid == before.kid and verify(after.token)["sub"] == "alice"
        settings.SECRET_KEY_FALLBACKS = []
        with pytest.raises(CredentialKeyUnusable, match="DJANGO_SECRET_KEY_FALLBACKS"):
            credential_issue(user=requester)
        settings.SECRET_KEY_FALLBACKS = [old_secret]
        successor = signing_key_rotate()  # sealed under the new secret key; signs in 600 s
        assert SigningKey.objects.get(kid=successor.kid).kek_id == kek()[1]
    settings.SECRET_KEY_FALLBACKS = []
    with time_machine.travel("2026-05-01 10:10:00Z", tick=False):
        token = credential_issue(user=requester)
        assert token.kid == successor.kid and verify(token.token)["sub"] == "alice"


def test_setting_a_credential_key_later_leaves_the_derived_one_usable(requester, settings):
    settings.ACCESSPORTAL_CREDENTIAL_KEY = ""
    before = credential_issue(user=requester)
    settings.ACCESSPORTAL_CREDENTIAL_KEY = base64.b64encode(b"k" * 32).decode()
    assert credential_issue(user=requester).kid == before.kid
    new = signing_key_rotate(immediately=True)
    settings.SECRET_KEY = "r" * 25 + "otated-secret-key-Zq8vN3xR7pL2mW9tY4b"
    assert credential_issue(user=requester).kid == new.kid, "sealed under the credential key"


def test_a_tampered_sealed_key_is_refused_clearly(requester, settings):
    old = credential_issue(user=requester)
    row = SigningKey.objects.get(kid=old.kid)
    raw = bytearray(base64.b64decode(row.private_key.removeprefix("aesgcm1:")))
    raw[-1] ^= 1
    SigningKey.objects.filter(pk=row.pk).update(
        kid="other", private_key="aesgcm1:" + base64.b64encode(bytes(raw)).decode()
    )
    with pytest.raises(CredentialKeyUnusable, match="cannot be decrypted"):
        credential_issue(user=requester)


def test_credential_keys_command_lists_rotates_and_retires(db, capsys):
    call_command("credential_keys", "list")
    assert "no signing key yet" in capsys.readouterr().out
    with time_machine.travel(T0, tick=False):
        call_command("credential_keys", "rotate", "--now")
        call_command("credential_keys", "rotate", "--alg", "ES256")
        out = capsys.readouterr().out
        assert "signs from 2026-05-01 10:00:00 UTC" in out
        assert "signs from 2026-05-01 10:10:00 UTC" in out
        call_command("credential_keys", "list")
        listing = capsys.readouterr().out
    assert "signing" in listing and "published (signs later)" in listing
    assert "ES256" in listing and "PRIVATE" not in listing
    new = SigningKey.objects.get(alg="ES256")
    call_command("credential_keys", "retire", new.kid)
    assert "out of the JWKS now" in capsys.readouterr().out
    event = AuditEvent.objects.filter(action="signing_key.retired").get()
    assert event.actor_name == "manage.py credential_keys" and event.target_id == new.kid


@pytest.mark.parametrize("kid", ["nope", "-nope"])  # a thumbprint may start with "-"
def test_credential_keys_command_refuses_an_unknown_key(db, kid):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=f"no signing key {kid}"):
        call_command("credential_keys", "retire", kid)


def test_jwks_before_any_key_is_empty(db):
    assert jwks() == {"keys": []}


def test_rotations_keep_one_current_key(db):
    signing_key_rotate(immediately=True)
    signing_key_rotate()
    signing_key_rotate(immediately=True)  # the waiting one never signs: retired now
    assert SigningKey.objects.filter(current=True).count() == 1
    assert SigningKey.objects.signing_at(timezone.now() + timedelta(hours=1)).count() == 1


def test_the_one_statement_read_matches_the_selectors_it_stands_for(requester, reviewer):
    """`credential_subject` is hand-written SQL: at instants around grant and key windows,
    it reads what standing_role_names, active_grants and signing_at read."""
    with time_machine.travel(T0, tick=False):
        grant(requester, reviewer, "db-admin", "30m")
        revoked = grant(requester, reviewer, "dev-admin", "2h")
        signing_key_rotate(immediately=True)
        signing_key_rotate()
    with time_machine.travel("2026-05-01 10:20Z", tick=False):
        access_request_revoke(request_id=revoked.id, actor=requester, reason="done")
        signing_key_rotate(alg="ES256")
    start = timezone.datetime.fromisoformat("2026-05-01T09:59:00+00:00")
    for minutes in (0, 1, 5, 10, 11, 19, 20, 25, 30, 31, 35, 40, 60, 130):
        at = start + timedelta(minutes=minutes)
        subject = credential_subject(user_id=requester.pk, at=at)
        assert subject.roles == standing_role_names(requester)
        expected = active_grants(requester, at).order_by("expires", "id")
        assert [(g.role, g.resource, g.expires, g.request_id) for g in subject.grants] == [
            (g.role, g.resource, g.expires, str(g.request_id)) for g in expected
        ], at
        signer = SigningKey.objects.signing_at(at).values_list("kid", "alg").first()
        assert subject.signer == signer, at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_first_credentials_at_once_make_one_key(base_policy, user):
    alice, bob = user("alice"), user("bob")
    outcomes = run_together(
        lambda: credential_issue(user=alice), lambda: credential_issue(user=bob)
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert SigningKey.objects.count() == 1
    assert {verify(o.value.token)["sub"] for o in outcomes} == {"alice", "bob"}
    assert AuditEvent.objects.filter(action="signing_key.created").count() == 1
