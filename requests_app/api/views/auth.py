"""`POST auth/token/`: trade a user name and password for the caller's API token.

DRF's `ObtainAuthToken` checks the password; the token comes from the token service (locked
on the account, audited when created), not from DRF's unaudited `get_or_create`. It is how
`accessctl login --user` gets a token; the same token is returned every time, so a second
machine's login does not end the first one's.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from requests_app.api import examples
from requests_app.api.authentication import TokenAuthentication
from requests_app.api.idempotency import run_idempotent
from requests_app.api.serializers.errors import errors
from requests_app.api.throttling import ScopedThrottle
from requests_app.services.tokens import api_token_get_or_create, token_sign_out

TOKEN_EXAMPLES = [
    examples.example(
        "alice signs in",
        {"username": "alice", "password": "<alice's password>"},
        request=True,
    ),
    examples.example("Her token", {"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}),
]


class AuthTokenView(ObtainAuthToken):
    """Password guessing is stopped twice: django-axes locks a user name or address out
    after AXES_FAILURE_LIMIT failures (429 with Retry-After, as on the sign-in pages), and a
    rate limit of its own (scope `auth_token`, API_THROTTLE_AUTH_TOKEN) caps attempts per
    address. DRF's ObtainAuthToken has neither: it turns throttling off."""

    # The API's own (bounded) JSON parser instead of DRF's form and multipart parsers.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
    # The password is the credential, as the schema says (no security): a stale token or a
    # portal session (which would demand a CSRF token) must not get in the way of signing in.
    authentication_classes: list = []
    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth_token"

    def get_serializer_context(self) -> dict:
        # authenticate() gets Django's request, not DRF's wrapper: django-axes marks a
        # locked-out attempt on the request it is given, and its middleware, which sees
        # Django's request, then answers 429. Marked on the wrapper, a lockout read as 400
        # "Unable to log in", even for the right password.
        return {**super().get_serializer_context(), "request": self.request._request}

    @extend_schema(
        operation_id="auth_token",
        summary="Your API token, in exchange for your user name and password",
        description="For clients such as `accessctl login --user`. Wrong credentials answer "
        "400 with `non_field_errors`; after repeated failures sign-in is locked (429 with "
        "`Retry-After`), even with the right password. Send the token as "
        "`Authorization: Bearer <key>`.",
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            **errors(400, 413),
        },
        examples=TOKEN_EXAMPLES,
        auth=[],  # the password is the credential: no token or session needed
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        # Idempotency-Key: consulted only after the password was checked, scoped to the
        # user it proved; the token is not stored with the key (nor the password hashed
        # into its fingerprint): a retry fetches the same token again.
        return run_idempotent(
            request,
            user,
            lambda: Response({"token": api_token_get_or_create(user=user).key}),
            data={name: value for name, value in request.data.items() if name != "password"},
            keep_body=False,
        )


class CurrentTokenView(APIView):
    """`accessctl logout`: the token in `Authorization` ends itself. Token authentication
    only: a portal session cookie must not sign the CLI out."""

    authentication_classes = [TokenAuthentication]

    @extend_schema(
        operation_id="auth_token_current_delete",
        summary="Sign out: end the token this call is authenticated with",
        description=(
            "A session token (`accessctl login --sso`) ends at once. The personal token is "
            "shared by every machine and script that signed in with the password: it ends "
            "only with `everywhere=true`, else 409 `shared_token`."
        ),
        parameters=[
            OpenApiParameter(
                "everywhere",
                bool,
                description="Also end the personal token, everywhere it is used.",
            )
        ],
        responses={204: OpenApiResponse(description="Signed out."), **errors(400, 401, 409)},
        tags=["auth"],
    )
    def delete(self, request: Request) -> Response:
        everywhere = request.query_params.get("everywhere", "false")
        if everywhere not in ("true", "false"):
            raise ValidationError({"everywhere": ["use true or false"]})
        token_sign_out(user=request.user, token=request.auth, everywhere=everywhere == "true")
        return Response(status=204)
