"""`credentials/`: the optional audience asked for, and the signed credential."""

from __future__ import annotations

from rest_framework import serializers

from requests_app.api.fields import DateTimeField, StrictCharField
from requests_app.api.serializers.base import StrictSerializer


class CredentialRequestSerializer(StrictSerializer):
    body_optional = True  # no body: the default audience

    audience = StrictCharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The `aud` claim: CREDENTIAL_AUDIENCE if omitted, else one of "
        "CREDENTIAL_AUDIENCES.",
    )


class CredentialGrantClaimSerializer(serializers.Serializer):
    role = serializers.CharField(required=False, help_text="A granted role (or `resource`).")
    resource = serializers.CharField(required=False, help_text="A granted `kind/name`.")
    expires = serializers.IntegerField(help_text="When this grant ends (JWT NumericDate).")
    request = serializers.UUIDField(help_text="The approved request that gave it.")


class CredentialClaimsSerializer(serializers.Serializer):
    iss = serializers.CharField()
    sub = serializers.CharField(help_text="The user name.")
    aud = serializers.CharField()
    iat = serializers.IntegerField()
    nbf = serializers.IntegerField()
    exp = serializers.IntegerField(
        help_text="The earliest end of the grants and at most CREDENTIAL_MAX_LIFETIME away."
    )
    jti = serializers.UUIDField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="Standing roles.")
    grants = CredentialGrantClaimSerializer(many=True, help_text="Access granted open now.")


class CredentialSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The signed JWT (compact serialization).")
    expires = DateTimeField(help_text="The token's `exp`.")
    kid = serializers.CharField(help_text="The signing key's id in /.well-known/jwks.json.")
    claims = CredentialClaimsSerializer(help_text="What the token says, decoded.")
