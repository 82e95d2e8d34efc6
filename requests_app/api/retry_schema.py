"""The schema of retries and preconditions: a drf-spectacular postprocessing hook
(SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) that documents, on the operations that honour
them, the `Idempotency-Key` and `If-Match` headers, the `Location`, `ETag` and
`Idempotent-Replayed` headers of their answers, and the 409, 412 and 422 they can give.

One place for what `requests_app.api.idempotency` and `requests_app.api.etags` do, rather
than a copy in every view's `extend_schema`.
"""

from __future__ import annotations

import re

from requests_app.api.error_codes import codes_answered
from requests_app.api.etags import IF_MATCH_PATTERN
from requests_app.api.idempotency import (
    HEADER,
    KEY_SCHEMA_PATTERN,
    NOT_STORED,
    REPLAYED,
    RETRY_AFTER,
)

ACTIONS = "reviews|withdraw|approve|deny|revoke|extend|ratify"
# POSTs wrapped by `idempotency.idempotent` / `run_idempotent`.
IDEMPOTENT = re.compile(rf"^/api/v1/(requests/(\{{id\}}/({ACTIONS})/)?|auth/token/)$")
# State changes whose service compares If-Match under the request's row lock.
PRECONDITIONED = re.compile(rf"^/api/v1/requests/\{{id\}}/({ACTIONS})/$")
# Answers that carry the request's ETag: one request, before or after a change.
TAGGED = re.compile(rf"^/api/v1/requests/(\{{id\}}/(({ACTIONS})/)?)?$")
# POSTs whose 200 is a dry run: an unsaved request, which has no version (no ETag).
DRY_RUNS = re.compile(r"^/api/v1/requests/(\{id\}/extend/)?$")


def _error() -> dict:
    """A fresh error content each time: the error-codes hook (serializers/errors.py) rewrites
    each operation's in place, and one shared dict made every operation's the last one's."""
    return {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


KEY_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "description": "Makes the POST safe to retry: the first answer to this key (per user, "
    "kept 24 hours) is returned again, with `Idempotent-Replayed: true`, instead of doing "
    "the work twice. Another body, method, path or If-Match with the same key: 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_SCHEMA_PATTERN},
}
IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "The request's `ETag` as you read it (or `*`): if it changed since, 412 "
    "and nothing is done. Weak tags (`W/...`) never match; a malformed header is a 400.",
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
}
ETAG = {
    "description": "The request's version (a strong tag): send it as `If-Match`.",
    "schema": {"type": "string"},
}
LOCATION = {
    "description": "The URL of the request (root-relative): the one created, or reviewed.",
    "schema": {"type": "string"},
}
REPLAYED_HEADER = {
    "description": "`true` when this is the stored answer to an earlier POST with the same "
    f"`{HEADER}`.",
    "schema": {"type": "string", "enum": ["true"]},
}
IN_USE = (
    f"`idempotency_key_in_use`: a POST with this `{HEADER}` is still running; retry after "
    "`Retry-After` seconds."
)


def document_retries(result: dict, generator, request, public) -> dict:
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method == "get" and TAGGED.match(path) and "{id}" in path:
                _headers(operation, "200", ETag=ETAG)
            if method != "post":
                continue
            if IDEMPOTENT.match(path):
                _idempotent(path, operation)
            if PRECONDITIONED.match(path):
                _preconditioned(operation)
            if TAGGED.match(path):
                for status in ("201",) if DRY_RUNS.match(path) else ("200", "201"):
                    _headers(operation, status, ETag=ETAG)
                _headers(operation, "201", Location=LOCATION)
    return result


def _parameter(operation: dict, parameter: dict) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == parameter["name"] for p in parameters):
        parameters.append(parameter)


def _headers(operation: dict, status: str, **headers: dict) -> None:
    response = operation.get("responses", {}).get(status)
    if response is not None:
        response.setdefault("headers", {}).update(headers)


# Answered before the key is looked at (authentication, the body's type, size and
# encoding), so never replayed; 5xx are not kept.
ANSWERED_BEFORE_THE_KEY = frozenset({401, 406, 413, 415, 500, 503})


def _idempotent(path: str, operation: dict) -> None:
    _parameter(operation, KEY_PARAMETER)
    responses = operation.setdefault("responses", {})
    for status, response in responses.items():
        if status.isdigit() and int(status) not in NOT_STORED | ANSWERED_BEFORE_THE_KEY:
            response.setdefault("headers", {})[REPLAYED] = REPLAYED_HEADER
    # Beside the operation's own 422s (`reason_required`, `unprocessable`: kept and replayed,
    # unlike the mismatch), if it has some.
    own = codes_answered(path, "post", 422, body=True, authenticated=True)
    own = [f"`{code}`" for code in own if code != "idempotency_key_mismatch"]
    refused = f"Well-formed, but refused for what it says ({', '.join(own)})." if own else ""
    answer = responses.setdefault("422", {"description": refused, "content": _error()})
    mismatch = f"`idempotency_key_mismatch`: this `{HEADER}` was used with another method, path, "
    mismatch += "body or If-Match."
    answer["description"] = " ".join(filter(None, [answer["description"], mismatch]))
    if own:
        answer.setdefault("headers", {})[REPLAYED] = REPLAYED_HEADER
    conflict = responses.setdefault("409", {"description": "", "content": _error()})
    conflict["description"] = " ".join(filter(None, [conflict["description"], IN_USE]))
    conflict.setdefault("headers", {})["Retry-After"] = {
        "description": f"Seconds to wait (`{RETRY_AFTER}`) when the key is in use.",
        "schema": {"type": "integer"},
    }
    if "400" in responses:
        responses["400"]["description"] += f" A malformed `{HEADER}`: `idempotency_key_invalid`."


def _preconditioned(operation: dict) -> None:
    _parameter(operation, IF_MATCH_PARAMETER)
    operation.setdefault("responses", {})["412"] = {
        "description": "`precondition_failed`: the request changed since the `ETag` sent as "
        "`If-Match`; nothing was done.",
        "content": _error(),
    }
