"""The CLI's browser sign-in (`accessctl login --sso`): code exchange and device flow.

Anonymous endpoints: the CLI has no credential yet. What proves who it acts for is a code a
signed-in person approved in the portal (requests_app/portal/views/cli_login.py); the
rules are in requests_app/services/cli_login.py. Rate limited per address (scope
`cli_login`, API_THROTTLE_CLI_LOGIN).
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app.api import examples
from requests_app.api.error_codes import DEVICE_FLOW_CODES
from requests_app.api.exceptions import domain_error_body
from requests_app.api.serializers.base import StrictSerializer
from requests_app.api.serializers.errors import errors
from requests_app.api.throttling import ScopedThrottle
from requests_app.services.cli_login import (
    cli_code_exchange,
    device_authorization_start,
    device_token_poll,
)
from requests_app.services.tokens import MintedToken

# RFC 8628 section 3.5: what services.cli_login.device_token_poll answers until a token.
DEVICE_FLOW_ERRORS = [entry.code for entry in DEVICE_FLOW_CODES]
TOKEN_RESPONSE = inline_serializer(
    "CliTokenResponse",
    {
        "token": serializers.CharField(help_text="Send as `Authorization: Bearer <token>`."),
        "expires_at": serializers.DateTimeField(help_text="The token is refused after this."),
        "user": serializers.CharField(help_text="Whom the token acts as."),
    },
)
TOKEN_EXAMPLE = examples.example(
    "alice's session token",
    {
        "token": "apt_3f9c0d5e8a7b6c1d2e3f40516273849aabbccddeeff0011",
        "expires_at": "2026-05-01T22:00:00Z",
        "user": "alice",
    },
)


class _CliAuthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "cli_login"


def _valid(serializer_class: type[serializers.Serializer], data: object) -> dict:
    """The body's fields; bad input answers the API's one error shape, the field map nested
    under `errors` so the body's `code` field cannot clash with the answer's `code`
    (requests_app/api/exceptions.py)."""
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def _token_body(minted: MintedToken) -> dict:
    return {
        "token": minted.key,
        "expires_at": serializers.DateTimeField().to_representation(minted.expires_at),
        "user": minted.user.get_username(),
    }


class CodeExchangeSerializer(StrictSerializer):
    code = serializers.CharField(max_length=128, help_text="From the portal's redirect.")
    code_verifier = serializers.CharField(
        max_length=128, help_text="The PKCE verifier whose S256 the CLI sent as code_challenge."
    )


class CliTokenView(_CliAuthView):
    @extend_schema(
        operation_id="auth_cli_token",
        summary="A session token, for a code approved in the portal (loopback sign-in)",
        description="Step 3 of `accessctl login --sso`: the CLI opened "
        "`/cli/login/?port=P&state=S&code_challenge=C` (C = base64url SHA-256 of a verifier), "
        "the signed-in person confirmed, the portal redirected to "
        "`http://127.0.0.1:P/callback?code=K&state=S`. The code works once, for "
        "ACCESSPORTAL_CLI_CODE_TTL seconds (60), with the matching verifier; the token "
        "lasts ACCESSPORTAL_CLI_TOKEN_TTL seconds (12 hours). An unknown, used or expired "
        "code answers 400 `invalid_grant` (RFC 6749), a malformed body or a wrong verifier "
        "400 `invalid`, with the reason.",
        request=CodeExchangeSerializer,
        responses={200: TOKEN_RESPONSE, **errors(400, 413)},
        examples=[
            examples.example(
                "the CLI trades its code",
                {
                    "code": "q1w2e3r4...",
                    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                },
                request=True,
            ),
            TOKEN_EXAMPLE,
            examples.error(
                "wrong verifier",
                "code_verifier does not match the code's challenge",
                "invalid",
                400,
                "code_verifier",
            ),
        ],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        minted = cli_code_exchange(**_valid(CodeExchangeSerializer, request.data))
        return Response(_token_body(minted))


class DeviceAuthorizationView(_CliAuthView):
    @extend_schema(
        operation_id="auth_device",
        summary="Start a device sign-in (RFC 8628): a device code and a code to type",
        description="For `accessctl login --sso --device` on a machine without a browser. "
        "Show the person `verification_uri` and `user_code` (or `verification_uri_complete`); "
        "once they approve it in the portal, `POST auth/device/token/` answers the token. "
        "No body.",
        request=None,
        responses={
            200: inline_serializer(
                "DeviceAuthorizationResponse",
                {
                    "device_code": serializers.CharField(),
                    "user_code": serializers.CharField(),
                    "verification_uri": serializers.URLField(),
                    "verification_uri_complete": serializers.URLField(),
                    "expires_in": serializers.IntegerField(help_text="seconds"),
                    "interval": serializers.IntegerField(help_text="seconds between polls"),
                },
            ),
            **errors(413),
        },
        examples=[
            examples.example(
                "a device sign-in",
                {
                    "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
                    "user_code": "WDJB-MJHT",
                    "verification_uri": "https://access.example.com/cli/device/",
                    "verification_uri_complete": "https://access.example.com/cli/device/"
                    "?user_code=WDJB-MJHT",
                    "expires_in": 600,
                    "interval": 5,
                },
            )
        ],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        started = device_authorization_start()
        uri = request.build_absolute_uri(reverse("portal:cli-device"))
        return Response(
            {
                "device_code": started.device_code,
                "user_code": started.user_code,
                "verification_uri": uri,
                "verification_uri_complete": f"{uri}?user_code={started.user_code}",
                "expires_in": started.expires_in,
                "interval": started.interval,
            }
        )


class DeviceTokenSerializer(StrictSerializer):
    device_code = serializers.CharField(max_length=128)


class DeviceTokenView(_CliAuthView):
    @extend_schema(
        operation_id="auth_device_token",
        summary="Poll a device sign-in: the token once approved",
        description="Until the person approves, 400 with `error` (and `code`) "
        "`authorization_pending`; polled sooner than `interval` seconds after the last "
        "poll, `slow_down` (wait 5 seconds longer from then on); `access_denied` when they "
        "denied it, `expired_token` when the code ran out, `invalid_grant` for an unknown "
        "or already used code (RFC 8628 section 3.5).",
        request=DeviceTokenSerializer,
        responses={
            200: TOKEN_RESPONSE,
            **errors(413),
            400: OpenApiResponse(
                inline_serializer(
                    "DeviceTokenError",
                    {
                        "detail": serializers.CharField(),
                        "code": serializers.CharField(required=False),
                        "error": serializers.ChoiceField(
                            choices=DEVICE_FLOW_ERRORS,
                            required=False,
                            help_text="RFC 8628's error code, as `code`.",
                        ),
                        "field": serializers.CharField(required=False),
                        "errors": serializers.DictField(
                            required=False,
                            help_text="Bad input: every bad field and its messages.",
                        ),
                    },
                ),
                description="Not yet (`authorization_pending`, `slow_down`), never "
                "(`access_denied`, `expired_token`, `invalid_grant`), or bad input.",
            ),
        },
        examples=[
            examples.example(
                "the CLI polls",
                {"device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS"},
                request=True,
            ),
            TOKEN_EXAMPLE,
            examples.example(
                "not approved yet",
                {
                    "detail": "waiting for the code to be approved",
                    "code": "authorization_pending",
                    "error": "authorization_pending",
                },
                status=400,
            ),
        ],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        poll = device_token_poll(**_valid(DeviceTokenSerializer, request.data))
        if poll.error is not None:
            answer = {**domain_error_body(poll.error), "error": poll.error.code}
            return Response(answer, status=status.HTTP_400_BAD_REQUEST)
        return Response(_token_body(poll.token))
