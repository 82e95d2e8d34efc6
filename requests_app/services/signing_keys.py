"""Key material of the credential signing keys: made, sealed at rest, opened to sign.

A private key is kept as PKCS#8 PEM encrypted with AES-GCM under the key-encryption key
(KEK): `ACCESSPORTAL_CREDENTIAL_KEY` (32 bytes, base64) or, when it is unset, 32 bytes
derived from SECRET_KEY with HKDF-SHA256 and a fixed label. The key id is the associated
data, so a sealed key copied onto another row does not open. Each row records which KEK
sealed it (`kek_id`, a digest of the KEK that reveals nothing of it). New keys are sealed
under the KEK in force; a stored key opens under it or under a key derived from SECRET_KEY
or one of SECRET_KEY_FALLBACKS, so a rotated SECRET_KEY kept as a fallback (or a first
ACCESSPORTAL_CREDENTIAL_KEY) leaves the signing key usable until the next rotation makes
one sealed under the new KEK. A key sealed under none of them is refused with a message
saying so and what to do (`manage.py credential_keys rotate --now`).

Opened keys are kept in memory per process (by key id and KEK); the private key never
leaves this module and `credentials.py`, never goes to a log, the admin or the API.
"""

from __future__ import annotations

import base64
import hashlib
import os
import warnings
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from accessportal.kernel.errors import DomainError, ValidationFailed
from requests_app.credential_models import SigningKey, SigningKeyAlg

# HKDF's label for the KEK derived from SECRET_KEY: changing it makes every stored key
# unreadable, like rotating SECRET_KEY does.
KEK_INFO = b"accessportal/credential-signing-keys/v1"
SEALED_PREFIX = "aesgcm1:"
_NONCE_BYTES = 12
_CURVES = {SigningKeyAlg.EDDSA: (OKPKey, "Ed25519"), SigningKeyAlg.ES256: (ECKey, "P-256")}

# joserfc (>= 1.2) warns that RFC 9864 deprecates the "EdDSA" name in favour of "Ed25519".
# The credentials keep "EdDSA": it is the name PyJWT and most JOSE libraries verify today.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")


class CredentialKeyUnusable(DomainError):
    """The signing key cannot be opened with the configured KEK: a deployment problem,
    not the caller's. The message says which key and how to recover."""

    status = 503
    code = "credential_key_unusable"


@dataclass(frozen=True)
class NewKey:
    kid: str
    alg: str
    public_jwk: dict
    sealed: str
    kek_id: str


@cache
def _kek(configured: str, secret_key: str) -> tuple[bytes, str]:
    if configured:  # validated at start-up (accessportal/settings.py)
        kek = base64.b64decode(configured)
    else:
        kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEK_INFO).derive(
            secret_key.encode()
        )
    kek_id = hashlib.sha256(b"kek-id:" + kek).hexdigest()[:16]
    return kek, kek_id


def kek() -> tuple[bytes, str]:
    """The key-encryption key in force and its id: new keys are sealed under it."""
    return _kek(settings.ACCESSPORTAL_CREDENTIAL_KEY, settings.SECRET_KEY)


def keks_accepted() -> dict[str, bytes]:
    """Every KEK a stored key may be opened with, by id: the one in force, then those
    derived from SECRET_KEY (when ACCESSPORTAL_CREDENTIAL_KEY is in force) and from each of
    SECRET_KEY_FALLBACKS (Django's own rotation setting: docs/deploy.md)."""
    in_force, in_force_id = kek()
    accepted = {in_force_id: in_force}
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        derived, derived_id = _kek("", secret)
        accepted.setdefault(derived_id, derived)
    return accepted


def key_generate(alg: str) -> NewKey:
    """A fresh key pair for `alg` (EdDSA: Ed25519, ES256: P-256), its private half sealed."""
    if alg not in _CURVES:
        raise ValidationFailed(f"unsupported algorithm {alg!r}: use EdDSA or ES256", field="alg")
    key_class, curve = _CURVES[alg]
    key = key_class.generate_key(curve)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    kek_bytes, kek_id = kek()
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek_bytes).encrypt(nonce, key.as_pem(private=True), kid.encode())
    text = SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()
    return NewKey(kid=kid, alg=alg, public_jwk=public, sealed=text, kek_id=kek_id)


_opened: dict[tuple[str, tuple[str, ...]], OKPKey | ECKey] = {}


def _cache_key(kid: str) -> tuple[str, tuple[str, ...]]:
    return kid, tuple(keks_accepted())


def key_open(row: SigningKey) -> OKPKey | ECKey:
    """The private key of `row`, opened with the KEK that sealed it if that is one of
    `keks_accepted()` (cached per process)."""
    accepted = keks_accepted()
    cached = _opened.get(_cache_key(row.kid))
    if cached is not None:
        return cached
    recover = (
        "set ACCESSPORTAL_CREDENTIAL_KEY back to the value that sealed it, or put the "
        "SECRET_KEY that sealed it in DJANGO_SECRET_KEY_FALLBACKS, or replace the key: "
        "manage.py credential_keys rotate --now"
    )
    kek_bytes = accepted.get(row.kek_id)
    if kek_bytes is None:
        raise CredentialKeyUnusable(
            f"the credential signing key {row.kid} was encrypted with another key-encryption "
            f"key ({row.kek_id}) than the configured one ({kek()[1]}): {recover}"
        )
    try:
        raw = base64.b64decode(row.private_key.removeprefix(SEALED_PREFIX))
        pem = AESGCM(kek_bytes).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], row.kid.encode())
        key = _CURVES[row.alg][0].import_key(pem)
    except (InvalidTag, ValueError, KeyError, JoseError):
        raise CredentialKeyUnusable(
            f"the credential signing key {row.kid} cannot be decrypted: {recover}"
        ) from None
    _opened[_cache_key(row.kid)] = key
    return key


def key_for(kid: str) -> OKPKey | ECKey:
    """The private key of signing key `kid` (cached per process: a key never changes)."""
    cached = _opened.get(_cache_key(kid))
    if cached is not None:
        return cached
    return key_open(SigningKey.objects.only("kid", "alg", "private_key", "kek_id").get(kid=kid))
