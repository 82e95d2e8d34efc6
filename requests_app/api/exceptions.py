"""The one exception handler of the API: every error answer is `{"detail", "code", "field"?}`.

`detail` is for a person, `code` a stable value from requests_app/api/error_codes.py (one per
cause; README "Errors"), `field` the body or query field to blame when there is one. Bad
input names every bad field in `errors` (`{"<field>": ["message", ...]}`, DRF's map, nested
for list items; `non_field_errors` for the body as a whole) beside `detail`/`code`/`field`
for its first one. The map is nested rather than merged into the top level so that a field
named `code` or `detail` (the CLI's `code`) cannot collide with the answer's own keys; a
domain error naming a field answers the same map, so a field never answers in two shapes.
Every 5xx is `{"detail", "code"}`: an unexpected exception is logged with its traceback and
answered as JSON, in DEBUG too (Django's debug page is HTML a client cannot read).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accessportal.kernel.errors import DomainError, ValidationFailed
from requests_app.api.error_codes import REGISTRY, code_for_status
from requests_app.api.views.errors import SERVER_ERROR

# Django's own logger for unhandled exceptions: its handlers (mail_admins, Sentry's) apply.
request_logger = logging.getLogger("django.request")

# A database that cannot be reached, or a connection lost mid-request. Services retry what
# had not reached COMMIT (accessportal/kernel/locking.py) and say "nothing was saved" themselves; an
# error that gets here may have come after a commit, so the client must look first.
DATABASE_UNAVAILABLE = {
    "detail": "the database connection failed; a change you sent may have been saved: "
    "check (GET) before sending it again",
    "code": "database_unavailable",
}

# DRF's codes for causes the registry names otherwise (one code per cause).
RENAMED = {"permission_denied": "not_allowed"}


def error_body(detail: str, code: str, field: str | None = None, errors=None) -> dict:
    body = {"detail": detail, "code": code}
    if field:
        body["field"] = field
    if errors is not None:
        body["errors"] = errors
    return body


def domain_error_body(exc: DomainError) -> dict:
    """Bad input (400, 422) always carries `errors`, as the serializers' refusals do:
    `non_field_errors` when no one field is to blame; other errors name their field."""
    if exc.field:
        errors = {exc.field: [exc.message]}
    elif isinstance(exc, ValidationFailed):
        errors = {"non_field_errors": [exc.message]}
    else:
        errors = None
    return error_body(exc.message, exc.code, exc.field, errors)


def validation_body(errors) -> dict:
    """DRF's field errors (a map, or a list for the body as a whole) in the one shape."""
    if not isinstance(errors, dict):
        errors = {"non_field_errors": errors if isinstance(errors, list) else [errors]}
    field, message = _first(errors)
    top = None if field in ("non_field_errors", "__all__") else field
    return error_body(f"{top}: {message}" if top else message, "invalid", top, errors)


def _first(errors) -> tuple[str | None, str]:
    """The first field with an error and its first message (looking into list items)."""
    for key, value in errors.items():
        message = _first_message(value)
        if message is not None:
            return str(key), message
    return None, "invalid input"


def _first_message(value) -> str | None:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            message = _first_message(item)
            if message is not None:
                return message
        return None
    return str(value)


def _api_code(exc: APIException, status_code: int) -> str:
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    code = RENAMED.get(code, code)
    return code if code in REGISTRY else code_for_status(status_code)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(domain_error_body(exc), status=exc.status, headers=headers)
    if isinstance(exc, DjangoValidationError):
        # A model field refusing a value (e.g. a malformed id) is bad input, not a crash.
        errors = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return Response(validation_body(errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body(f"request body larger than {limit} bytes", "too_large"),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return _unexpected(exc, context)
    if isinstance(exc, ValidationError):
        response.data = validation_body(response.data)
    elif isinstance(exc, Http404):
        # Django's message names the model class ("No AccessRequest matches ..."): not for clients.
        response.data = error_body("not found", "not_found")
    else:
        data = response.data
        detail = data.get("detail") if isinstance(data, dict) else data
        code = (
            _api_code(exc, response.status_code)
            if isinstance(exc, APIException)
            else code_for_status(response.status_code)
        )
        response.data = error_body(str(detail), code)
    return response


def _unexpected(exc: Exception, context) -> Response:
    """What Django does with an unhandled exception (log it with its traceback, tell
    got_request_exception's listeners), then a JSON answer instead of an HTML page."""
    request = getattr(context.get("request"), "_request", None)
    path = getattr(request, "path", "?")
    request_logger.error(
        "Internal Server Error: %s",
        path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"status_code": 500, "request": request},
    )
    got_request_exception.send(sender=None, request=request)
    if isinstance(exc, (OperationalError, InterfaceError)):
        response = Response(DATABASE_UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    else:
        response = Response(SERVER_ERROR, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response._has_been_logged = True  # logged above: Django's handler does not log it again
    return response
