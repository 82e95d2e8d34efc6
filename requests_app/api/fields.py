"""Serializer fields for the API's two conventions: RFC 3339 UTC times, and durations
accepted as "90m"/"4h"/"2d" or seconds but always returned as integer seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from policies_app.durations import DurationError, parse_duration

MAX_DURATION_TEXT = 32


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "description": "seconds"},
            {"type": "string", "pattern": r"^\s*(\d+|(\d+[smhdwSMHDW])+)\s*$", "maxLength": 32},
        ],
        "description": 'A duration: seconds, or text like "90m", "4h", "2d", "1h30m".',
        "example": "4h",
    }
)
class DurationField(serializers.Field):
    """Input: seconds or "90m"/"4h"/"2d"; output: integer seconds."""

    default_error_messages = {"invalid": "{message}"}

    def to_internal_value(self, data) -> int:
        if isinstance(data, str) and len(data) > MAX_DURATION_TEXT:
            self.fail("invalid", message="not a duration: use seconds or text like '4h'")
        try:
            return parse_duration(data)
        except DurationError as err:
            self.fail("invalid", message=str(err))

    def to_representation(self, value) -> int:
        return int(value)


@extend_schema_field(OpenApiTypes.DATETIME)
class DateTimeField(serializers.DateTimeField):
    """RFC 3339: input must carry an offset (any), output is always UTC with `Z`."""

    default_error_messages = {
        "naive": "give a time zone offset (RFC 3339), e.g. 2026-05-01T10:00:00Z",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail("naive")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            self.fail("overflow")


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would quietly turn 5 or 1.5 into "5" or "1.5"."""

    default_error_messages = {"not_text": "must be a string, not {kind}"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text", kind=type(data).__name__)
        return super().to_internal_value(data)
