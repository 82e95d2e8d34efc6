"""A JSON parser that bounds what it reads and never lets odd input become a 500."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from rest_framework import exceptions, parsers, status


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "request body too large"
    default_code = "too_large"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus a size cap and a guard against absurd nesting.

    DRF reads the body as a stream, which bypasses Django's DATA_UPLOAD_MAX_MEMORY_SIZE;
    deeply nested arrays make `json` raise RecursionError rather than ValueError.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit else stream.read()
        if limit and len(raw) > limit:
            raise RequestTooLarge(f"request body larger than {limit} bytes")
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
            return json.loads(text, parse_constant=json_strict_constant)
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None


def json_strict_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
