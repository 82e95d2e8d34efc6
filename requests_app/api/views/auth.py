"""`POST auth/token/`: trade a user name and password for the caller's API token.

DRF's `ObtainAuthToken`, JSON only like the rest of the API and documented in the schema.
It is how `accessctl login --user` gets a token; the same token is returned every time.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings

from requests_app.api import examples
from requests_app.api.serializers.errors import errors

TOKEN_EXAMPLES = [
    examples.example(
        "alice signs in",
        {"username": "alice", "password": "demo-password"},
        request=True,
    ),
    examples.example("Her token", {"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}),
]


class AuthTokenView(ObtainAuthToken):
    # The API's own (bounded) JSON parser instead of DRF's form and multipart parsers.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(
        operation_id="auth_token",
        summary="Your API token, in exchange for your user name and password",
        description="For clients such as `accessctl login --user`. Wrong credentials answer "
        "400 with `non_field_errors`. Send the token as `Authorization: Token <key>`.",
        responses={
            200: inline_serializer("AuthTokenResponse", {"token": serializers.CharField()}),
            **errors(400, 401),
        },
        examples=TOKEN_EXAMPLES,
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
