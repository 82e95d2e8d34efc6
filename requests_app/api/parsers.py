"""A JSON parser that bounds what it reads and never lets odd input become a 500."""

from __future__ import annotations

import codecs
import json
import math

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
        if _codec(encoding) not in JSON_CODECS:
            # Django takes any codec Python knows as a charset: base64, rot13, zlib (whose
            # 48 KB would inflate to 50 MB past the size cap). JSON is Unicode text.
            raise exceptions.UnsupportedMediaType(
                media_type,
                f'charset "{encoding[:40]}" is not supported: send JSON as UTF-8 (or UTF-16/32)',
            )
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"the body is not valid {encoding} at byte {exc.start}") from None
        try:
            return json.loads(text, **STRICT)
        except json.JSONDecodeError as exc:
            # "Expecting value: line 1 column 5 (char 4)": the position, not Python's internals.
            raise ParseError(f"{exc.msg}: line {exc.lineno} column {exc.colno}") from None
        except NotJson as exc:
            raise ParseError(str(exc)) from None
        except RecursionError:
            raise ParseError("nested too deeply") from None
        except (ValueError, TypeError):  # whatever else `json` refuses: never a 500
            raise ParseError("the body is not valid JSON") from None


# The encodings RFC 8259 (and RFC 7159 before it) allows for JSON, by their codec names.
JSON_CODECS = {
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
}


def _codec(encoding: str) -> str | None:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


class ParseError(exceptions.ParseError):
    """A body that is not JSON; the message says where or why, never in Python's words."""

    def __init__(self, why: str) -> None:
        super().__init__(f"JSON parse error - {why}")


class NotJson(ValueError):
    pass


# Far more digits than any field takes; Python's own limit (4300) would answer with advice to
# call sys.set_int_max_str_digits().
MAX_INT_DIGITS = 100


def json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NotJson(f"a number of more than {MAX_INT_DIGITS} digits")
    return int(text)


def json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 would be Python's inf, which no JSON can carry back
        raise NotJson(f"the number {text[:20]} is out of range")
    return number


def json_strict_constant(name: str):
    raise NotJson(f"{name} is not valid JSON")


STRICT = {"parse_constant": json_strict_constant, "parse_int": json_int, "parse_float": json_float}
