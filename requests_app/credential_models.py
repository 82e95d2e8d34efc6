"""The keys that sign access credentials (requests_app/services/credentials.py).

Imported by `requests_app.models` (so Django finds it); written only by the credential
services. The private key is stored encrypted (AES-GCM under the key-encryption key of
`ACCESSPORTAL_CREDENTIAL_KEY`, or one derived from SECRET_KEY) and is read back only by the
service that signs: no admin, API answer or log shows it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q, QuerySet


def _after(field: str, at) -> Q:
    """`field` is unset (open-ended) or later than `at`."""
    return Q(**{field: None}) | Q(**{f"{field}__gt": at})


def signing_key_sql(at: str = "%s", *, alias: str = "k") -> str:
    """SQL twin of `SigningKeyQuerySet.signing_at` (its window and publication, not its
    order): three placeholders by default. For the one-statement read of a credential
    (`selectors.credentials.credential_subject`); tests/requests_app/test_credentials.py
    proves both select the same keys."""
    return (
        f"{alias}.signs_from <= {at} AND ({alias}.signs_until IS NULL OR "
        f"{alias}.signs_until > {at}) AND ({alias}.retired_at IS NULL OR "
        f"{alias}.retired_at > {at})"
    )


class SigningKeyQuerySet(QuerySet):
    def published_at(self, at) -> SigningKeyQuerySet:
        """Keys in the JWKS at `at`: not retired by then (`SigningKey.status_at`)."""
        return self.filter(_after("retired_at", at))

    def signing_at(self, at) -> SigningKeyQuerySet:
        """The key that signs at `at` first: published, inside its signing window; the
        newest one should windows ever overlap."""
        return (
            self.published_at(at)
            .filter(_after("signs_until", at), signs_from__lte=at)
            .order_by("-signs_from", "-id")
        )

    def live_at(self, at) -> SigningKeyQuerySet:
        """Keys signing at `at` or waiting to: what a rotation or a retirement reschedules."""
        return self.published_at(at).filter(_after("signs_until", at))


class SigningKeyAlg(models.TextChoices):
    EDDSA = "EdDSA", "EdDSA (Ed25519)"
    ES256 = "ES256", "ES256 (P-256)"


class SigningKey(models.Model):
    """One signing key. In the JWKS from `created` until `retired_at` (None: still there);
    signs from `signs_from` until `signs_until` (None: until a successor starts). `current`
    marks the newest key not retired (the one signing now or next): at most one row."""

    kid = models.CharField(max_length=64, unique=True, help_text="RFC 7638 thumbprint")
    alg = models.CharField(max_length=8, choices=SigningKeyAlg.choices, default=SigningKeyAlg.EDDSA)
    public_jwk = models.JSONField(help_text="The public key as a JWK (what the JWKS serves).")
    private_key = models.TextField(
        editable=False, help_text="The private key, AES-GCM encrypted (never shown)."
    )
    kek_id = models.CharField(
        max_length=16, editable=False, help_text="Which key-encryption key sealed it."
    )
    created = models.DateTimeField()
    signs_from = models.DateTimeField(help_text="Published before this, signs from it.")
    signs_until = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="Leaves the JWKS at this time (None: published)."
    )
    current = models.BooleanField(default=False)

    objects = SigningKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-signs_from", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["current"], condition=Q(current=True), name="signingkey_one_current"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alg} key {self.kid}"

    def status_at(self, at) -> str:
        """What `credential_keys list` shows: retired, signing, published (before it
        signs, or after, while credentials it signed may still be alive)."""
        if self.retired_at is not None and self.retired_at <= at:
            return "retired"
        if self.signs_from <= at and (self.signs_until is None or self.signs_until > at):
            return "signing"
        return "published (signs later)" if self.signs_from > at else "published (verifies)"
