"""The one exception handler of the API: domain errors become their HTTP status.

Shapes stay DRF's: `{"detail": ...}` for refusals (with `code`, and `field` when one
field is to blame) and `{"field": ["..."]}` for serializer validation errors. Every 5xx is
`{"detail", "code"}`: an unexpected exception is logged with its traceback and answered as
JSON, in DEBUG too (Django's debug page is HTML a client cannot read).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from accessportal.kernel.errors import DomainError
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


def domain_error_body(exc: DomainError) -> dict:
    body = {"detail": exc.message, "code": exc.code}
    if exc.field:
        body["field"] = exc.field
    return body


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(domain_error_body(exc), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        # A model field refusing a value (e.g. a malformed id) is bad input, not a crash.
        return Response(
            {"detail": " ".join(exc.messages), "code": "invalid"},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {
                "detail": f"request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
                "code": "too_large",
            },
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return _unexpected(exc, context)
    if isinstance(exc, AuthenticationFailed) and isinstance(response.data, dict):
        # A session token that expired or was revoked says so in `code`, so a client can
        # tell "sign in again" from "wrong token" (requests_app.api.authentication).
        code = exc.get_codes()
        if code in ("token_expired", "token_revoked"):
            response.data["code"] = code
    if response.status_code >= 500 and isinstance(response.data, dict):
        response.data.setdefault("code", getattr(exc, "default_code", "server_error"))
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
        return Response(DATABASE_UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return Response(SERVER_ERROR, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
