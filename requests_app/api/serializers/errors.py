"""Error bodies, for the schema: refusals are `{"detail", "code", "field"?}`; validation
errors map each bad field to its messages (DRF's usual shape)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(required=False, help_text="Stable machine-readable code.")
    field = serializers.CharField(required=False, help_text="The field to blame, if one is.")


BAD_INPUT_SCHEMA = {
    "type": "object",
    "description": 'A refusal (`detail`, `code`, `field`) or field errors: `{"<field>": '
    '["message", ...]}`, `non_field_errors` for the body as a whole.',
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string"},
    },
    # A field's messages; for a list or an object, its messages per item or key
    # (`{"suggested_reviewers": {"4": ["..."]}}`).
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": True},
        ]
    },
}

_DESCRIBED = {
    400: "Bad input: malformed JSON, wrong types, unknown fields, a rule broken.",
    401: "Not authenticated: send `Authorization: Token <key>` or use a session.",
    403: "Refused: policy or permission does not allow it (or CSRF failed on a session).",
    404: "No such object, or not visible to you.",
    409: "The request is not in a state that allows this.",
    413: "The body is too large.",
    429: "Too many requests (rate limit, or sign-in locked after failures): wait the "
    "`Retry-After` seconds.",
    503: "The service cannot answer now (a database or a key it needs is unavailable); the "
    "message says why.",
}


def errors(*statuses: int, **descriptions: str) -> dict[int, OpenApiResponse]:
    """Schema responses for the given error statuses, and 429 (every endpoint is rate
    limited); `descriptions` replaces the default text of a status (`e404="..."`)."""
    return {
        status: OpenApiResponse(
            response=BAD_INPUT_SCHEMA if status == 400 else ErrorSerializer,
            description=descriptions.get(f"e{status}", _DESCRIBED[status]),
        )
        for status in (*statuses, 429)
    }


# Lists are paginated: a malformed page number is a 400, a page past the last one a 404.
LIST_ERRORS = errors(400, 401, 404, e404="No such page: `page` is past the last page.")
