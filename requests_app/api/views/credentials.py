"""`POST credentials/`: a signed credential of the caller's open access; and the JWKS
(`/.well-known/jwks.json`, mounted in accessportal/urls.py) that verifies it."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app.api import examples
from requests_app.api.serializers.credentials import (
    CredentialRequestSerializer,
    CredentialSerializer,
)
from requests_app.api.serializers.errors import errors
from requests_app.selectors.credentials import jwks
from requests_app.services.credentials import credential_issue

# One instance serves every call (see views/access.py): `run_validation` keeps no state.
BODY = CredentialRequestSerializer()
# The answer is built by hand (the claims are JSON already): CredentialSerializer, which
# describes it in the schema, cost a fifth of the call (bench/README.md, "Signed
# credentials"); tests/requests_app/api/test_credentials_live.py checks the shape.
EXPIRES = CredentialSerializer().fields["expires"]


class CredentialView(APIView):
    @extend_schema(
        operation_id="credential_issue",
        summary="A short-lived signed credential (JWT) of your open access, for other services",
        description="Claims: `iss`, `sub` (your user name), `aud`, `iat`, `nbf`, `exp`, `jti`, "
        "`roles` (standing) and `grants` open now (`role` or `resource`, `expires`, "
        "`request`). `exp` is the earliest end of those grants, and at most "
        "CREDENTIAL_MAX_LIFETIME (default 300 s) away. Signed EdDSA (or ES256); verify it "
        "with the public keys at `/.well-known/jwks.json`.",
        request=CredentialRequestSerializer,
        responses={
            201: CredentialSerializer,
            **errors(
                400,
                401,
                403,
                409,
                413,
                503,
                e403="Refused: an inactive account gets no credentials.",
                e409="No signing key signs now and one is waiting to start: an operator "
                "runs `manage.py credential_keys rotate --now`.",
                e503="A signing key cannot be decrypted (the key-encryption key changed): "
                "an operator runs `manage.py credential_keys rotate --now`.",
            ),
        },  # fmt: skip
        examples=examples.CREDENTIAL,
        tags=["credentials"],
    )
    def post(self, request: Request) -> Response:
        body = BODY.run_validation(request.data)
        credential = credential_issue(user=request.user, audience=body.get("audience") or None)
        answer = {
            "token": credential.token,
            "expires": EXPIRES.to_representation(credential.expires),
            "kid": credential.kid,
            "claims": credential.claims,
        }
        response = Response(answer, status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # a bearer token: no cache keeps it
        return response


@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    """The public keys that verify credentials (RFC 7517 JWK Set); no authentication.
    Cached downstream for CREDENTIAL_JWKS_MAX_AGE: a rotated-in key is published longer
    than that before it signs."""
    response = JsonResponse(jwks())
    patch_cache_control(response, public=True, max_age=settings.CREDENTIAL_JWKS_MAX_AGE)
    return response
