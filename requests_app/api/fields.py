"""Serializer fields for the API's conventions, each no laxer than what the schema says:
RFC 3339 times with an offset, durations accepted as "90m"/"4h"/"2d" or seconds but always
returned as integer seconds, JSON booleans, and text that is a string.

Each field's schema (drf-spectacular extension) is next to it, so the two cannot drift."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework import serializers

from policies_app.documents.checker import NAME_RE
from policies_app.documents.resources import KIND_RE, RESOURCE_NAME_RE
from policies_app.durations import (
    MAX_TEXT,
    SCHEMA_PATTERN,
    DurationError,
    format_duration,
    parse_duration,
)
from requests_app.services import text


def _schema_char_class(python_class: str) -> str:
    """A Python regex character class of literal characters, as JSON Schema (ECMA-262)
    `\\uXXXX` escapes. Lone surrogates are left out: valid JSON text has none to match."""
    escaped = "".join(c if c in "[]-^" else f"\\u{ord(c):04x}" for c in python_class)
    return escaped.replace("\\ud800-\\udfff", "")


# What the services refuse in text from people (requests_app/services/text.py), as a pattern.
TEXT_PATTERN = "^[^" + _schema_char_class(text._FORBIDDEN.pattern)[1:] + "*$"

# A resource id `kind/name` (policies_app.documents.resources.parse_resource_id), and a role
# name or `*` (policies_app.documents.checker.NAME_RE), as patterns.
RESOURCE_ID_PATTERN = KIND_RE.pattern.removesuffix("$") + "/" + RESOURCE_NAME_RE.pattern[1:]
ROLE_NAME_PATTERN = r"^(\*|" + NAME_RE.pattern[1:-1] + ")$"

# RFC 3339 `date-time` (section 5.6), digits ASCII only; `T` and `Z` in either case.
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# The same without an offset: a local time, which says nothing about the instant.
RFC3339_NAIVE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
)
NAIVE_MESSAGE = "give a time zone offset (RFC 3339), e.g. 2026-05-01T10:00:00Z"
RFC3339_EXAMPLE = "RFC 3339, e.g. 2026-05-01T10:00:00Z"


class RFC3339Error(ValueError):
    """Not an RFC 3339 time with an offset; `naive` when only the offset is missing."""

    def __init__(self, naive: bool):
        super().__init__(NAIVE_MESSAGE if naive else f"not a time: use {RFC3339_EXAMPLE}")
        self.naive = naive


def parse_rfc3339(value: object) -> datetime:
    """An RFC 3339 time with its offset, in UTC. Raises RFC3339Error, or OverflowError for
    a time that is out of range once in UTC."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise RFC3339Error(naive=isinstance(value, str) and bool(RFC3339_NAIVE.fullmatch(value)))
    try:
        parsed = datetime.fromisoformat(value.upper())
    except ValueError:  # a 13th month, a 25th hour...
        raise RFC3339Error(naive=False) from None
    return parsed.astimezone(UTC)


class DurationField(serializers.Field):
    """Input: seconds (a JSON integer) or text like "90m"/"4h"/"2d"/"1h30m"; output: integer
    seconds. `maximum` (seconds) is the schema's `maximum` of the integer form: more seconds
    break the schema (400 here). Text cannot be bounded by a pattern, so "15d" is well-formed
    and the service refuses it for its length (422), in the same words."""

    default_error_messages = {
        "invalid": "{message}",
        "above_maximum": "may be at most {maximum} (asked for {asked})",
    }

    def __init__(self, *, maximum: int | None = None, **kwargs):
        self.maximum = maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        try:
            seconds = parse_duration(data)
        except DurationError as err:
            self.fail("invalid", message=str(err))
        if isinstance(data, int) and self.maximum is not None and seconds > self.maximum:
            maximum, asked = format_duration(self.maximum), format_duration(seconds)
            self.fail("above_maximum", maximum=maximum, asked=asked)
        return seconds

    def to_representation(self, value) -> int:
        return int(value)


class DateTimeField(serializers.DateTimeField):
    """RFC 3339: input must carry an offset (any), output is always UTC with `Z`."""

    default_error_messages = {"naive": NAIVE_MESSAGE}

    def to_internal_value(self, value):
        try:
            return parse_rfc3339(value)
        except RFC3339Error as err:
            if err.naive:
                self.fail("naive")
            self.fail("invalid", format=RFC3339_EXAMPLE)
        except OverflowError:
            self.fail("overflow")

    def enforce_timezone(self, value: datetime) -> datetime:
        # Output: always UTC (DRF would convert to the server's time zone).
        try:
            return value.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")


class JSONBooleanField(serializers.BooleanField):
    """`true` or `false` only: DRF's BooleanField would also take "yes", "1" or 0."""

    default_error_messages = {"not_boolean": "Must be a valid boolean: JSON true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_boolean")
        return data


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would quietly turn 5 or 1.5 into "5" or "1.5"."""

    default_error_messages = {"not_text": "must be a string, not {kind}"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text", kind=type(data).__name__)
        return super().to_internal_value(data)


class NameField(StrictCharField):
    """A name of a given form (`pattern`, which the schema states): anything else is a 400
    naming the field, as given (no white space trimmed: a name has none)."""

    pattern = ""
    form = ""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)
        # After the length validator: a name too long is told so first.
        self.validators.append(self._check_form)

    def _check_form(self, value: str) -> None:
        if not re.fullmatch(self.pattern, value):
            raise serializers.ValidationError(f"{value[:64]!r} is not {self.form}", code="invalid")


class RoleNameField(NameField):
    pattern = ROLE_NAME_PATTERN
    form = "a role name (letters, digits and _ . : @ -) or *"


class ResourceIdField(NameField):
    pattern = RESOURCE_ID_PATTERN
    form = "a resource id (kind/name, e.g. node/db-prod-1)"


class DurationFieldSchema(OpenApiSerializerFieldExtension):
    target_class = DurationField

    def map_serializer_field(self, auto_schema, direction):
        seconds = {"type": "integer", "minimum": 1, "description": "seconds"}
        if self.target.maximum is not None:
            seconds["maximum"] = self.target.maximum
        return {
            "oneOf": [
                seconds,
                {"type": "string", "pattern": SCHEMA_PATTERN, "maxLength": MAX_TEXT},
            ],
            "description": 'A duration: seconds, or text like "90m", "4h", "2d", "1h30m" '
            "(units s, m, h, d, w; no spaces).",
            "example": "4h",
        }


class DateTimeFieldSchema(OpenApiSerializerFieldExtension):
    target_class = DateTimeField

    def map_serializer_field(self, auto_schema, direction):
        return build_basic_type(OpenApiTypes.DATETIME)


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """DRF's schema of the text (length, blank), and the characters the services refuse."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": TEXT_PATTERN}


class NameFieldSchema(OpenApiSerializerFieldExtension):
    target_class = NameField
    match_subclasses = True
    priority = 1  # before StrictCharFieldSchema, which matches subclasses too

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "pattern": self.target.pattern}
