"""Error bodies, for the schema: every error is `{"detail", "code", "field"?}`; bad input also
maps every bad field to its messages in `errors` (README "Errors").

Views list the statuses they answer with `errors(...)`; the postprocessing hook
`precise_errors` then makes each operation's error answers exact: it adds the statuses
every operation of its kind can answer (400 `bad_host`, 406, 429 and 503 everywhere; 401
when authenticated, 403 `csrf_failed` for a write with a session, 413/415 when it reads a
body) and makes `code` an enum
of the codes that operation can answer with that status (requests_app/api/error_codes.py),
in components shared by the operations that answer the same codes.
"""

from __future__ import annotations

import copy
import json

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from requests_app.api.error_codes import REGISTRY, code_for_status, codes_answered


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    # An enum per operation and status: precise_errors, below.
    code = serializers.CharField(help_text="Stable machine-readable cause (README: Errors).")
    field = serializers.CharField(required=False, help_text="The field to blame, if one is.")


FIELD_ERRORS = {
    "type": "object",
    "description": 'Every bad field and its messages: `{"<field>": ["message", ...]}`; for a '
    'list or an object, messages per item or key (`{"suggested_reviewers": {"4": ["..."]}}`); '
    "`non_field_errors` for the body as a whole.",
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": True},
        ]
    },
}

BAD_INPUT_SCHEMA = {
    "type": "object",
    "description": "Bad input: `detail` and `field` for the first bad field, `errors` for all.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string"},
        "errors": FIELD_ERRORS,
    },
    "required": ["detail", "code"],
}

_DESCRIBED = {
    400: "Bad input: malformed JSON, wrong types, unknown fields, a rule broken.",
    401: "Not authenticated: send `Authorization: Bearer <key>` (or `Token <key>`) or use a "
    "session.",
    403: "Refused: policy or permission does not allow it (or CSRF failed on a session).",
    404: "No such object, or not visible to you.",
    406: "The API answers only `application/json`: send `Accept: application/json` or none.",
    409: "The request is not in a state that allows this.",
    412: "`If-Match` names a version the object no longer has: read it again.",
    413: "The body is too large.",
    415: "The body must be `Content-Type: application/json`.",
    422: "Well-formed, but refused for what it says (a rule of the policy or the service): "
    "`code` and `detail` say which.",
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


def json_errors(*statuses: int, **descriptions: str) -> dict:
    """`errors`, for an operation that also answers another media type (the CSV exports):
    its errors are JSON all the same."""
    return {
        (status, "application/json"): r for status, r in errors(*statuses, **descriptions).items()
    }


# Lists are paginated: a malformed page number is a 400, a page past the last one a 404.
LIST_ERRORS = errors(400, 401, 404, e404="No such page: `page` is past the last page.")

WRITES = {"post", "put", "patch", "delete"}


def precise_errors(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS): per operation, every
    error status it can answer, each with the enum of its codes. Operations that answer a
    status with the same codes share one component, so a generated client has one class per
    set: `Error409` for the codes every 409 can carry, `Error409NotPending` for those plus
    `not_pending`, and the operation's name for a set with many codes of its own."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    answers = [
        answer
        for path, item in result["paths"].items()
        for method, operation in item.items()
        for answer in _operation(path, method, operation, components)
    ]
    common: dict[int, set[str]] = {}
    for _, status, codes, _, _ in answers:
        common[status] = common.get(status, set(codes)) & set(codes)
    for content, status, codes, schema, operation_id in answers:
        extra = [code for code in codes if code not in common[status]]
        name = f"Error{status}" + "".join(_camel(code) for code in extra)
        if len(extra) > 3:
            name = f"{_camel(operation_id)}Error{status}"
        if components.get(name, schema) != schema:
            name = f"{_camel(operation_id)}Error{status}"
        components[name] = schema
        content["schema"] = {"$ref": f"#/components/schemas/{name}"}
    # Components the precise ones replace.
    for name in ("Error", "DeviceTokenError"):
        if name in components and f'"#/components/schemas/{name}"' not in _refs(result):
            del components[name]
    result["components"]["schemas"] = dict(sorted(components.items()))
    return result


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _operation(path: str, method: str, operation: dict, components: dict) -> list[tuple]:
    """Adds the statuses the operation can answer; returns, per error status, where its
    schema goes, the status, its codes, the precise schema and the operation's id."""
    body = "requestBody" in operation
    authenticated = any(requirement for requirement in operation.get("security", [{}]))
    session = any("cookieAuth" in requirement for requirement in operation.get("security", []))
    responses = operation["responses"]
    # Every operation: a bad Host header (400 `bad_host`), a database out of reach (503), an
    # Accept it cannot answer, a rate limit.
    needed = {400, 406, 429, 503}
    if body:
        needed |= {413, 415}
    if authenticated:
        needed.add(401)
    if session and method in WRITES:
        needed.add(403)
    # Codes only some operations answer (not_pending, reason_required, precondition_failed...)
    # bring their status to those operations.
    needed |= {
        entry.status
        for entry in REGISTRY.values()
        if entry.paths and entry.answered_by(path, method, body=body, authenticated=authenticated)
    }
    for status in sorted(needed):
        responses.setdefault(str(status), {"description": _DESCRIBED[status]})
    responses["429"].setdefault("headers", {})["Retry-After"] = {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
    answers = []
    for status_text, response in responses.items():
        status = int(status_text)
        if status < 400:
            continue
        codes = codes_answered(path, method, status, body=body, authenticated=authenticated)
        codes = codes or [code_for_status(status)]
        content = response.setdefault("content", {}).setdefault("application/json", {})
        schema = _schema(content.get("schema"), status, codes, components)
        answers.append((content, status, codes, schema, operation["operationId"]))
    operation["responses"] = dict(sorted(responses.items()))
    return answers


def _schema(schema: dict | None, status: int, codes: list[str], components: dict) -> dict:
    """The operation's error schema with `code` an enum of `codes`; a view's own error
    schema (the device flow's, with RFC 8628's `error`) keeps its other properties."""
    if schema and "$ref" in schema and not schema["$ref"].endswith("/Error"):
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    elif status in (400, 422) or (schema and "errors" in schema.get("properties", {})):
        schema = BAD_INPUT_SCHEMA
    else:
        schema = {
            "type": "object",
            "properties": {
                "detail": {"type": "string"},
                "code": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    precise = copy.deepcopy(schema)
    precise["properties"]["detail"] = {"type": "string", "description": "For a person."}
    precise["properties"]["code"] = {
        "type": "string",
        "enum": codes,
        "description": "Stable cause (README, Errors): "
        + ", ".join(f"`{code}` ({REGISTRY[code].meaning})" for code in codes),
    }
    precise["properties"]["field"] = {"type": "string", "description": "The field to blame."}
    precise["required"] = sorted({*precise.get("required", []), "detail", "code"})
    return precise


def _refs(result: dict) -> str:
    return json.dumps(result["paths"])
