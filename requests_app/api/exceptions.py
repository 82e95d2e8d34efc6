"""The one exception handler of the API: domain errors become their HTTP status.

Shapes stay DRF's: `{"detail": ...}` for refusals (with `code`, and `field` when one
field is to blame) and `{"field": ["..."]}` for serializer validation errors.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from requests_app.errors import DomainError


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
    return drf_exception_handler(exc, context)
