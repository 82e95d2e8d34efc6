"""Shared serializer bases: strict input, and output with RFC 3339 UTC times."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import models
from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from requests_app.api.fields import DateTimeField

MAX_FIELD_NAME_SHOWN = 64


def _shown(name: object) -> str:
    """A field name safe to echo back: printable, bounded."""
    text = str(name).encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_FIELD_NAME_SHOWN else text[:MAX_FIELD_NAME_SHOWN] + "..."


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, naming them: a typo must not pass silently."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = [key for key in data if key not in self.fields]
            if unknown:
                allowed = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {_shown(key): [f"unknown field (allowed: {allowed})"] for key in unknown}
                )
        return super().to_internal_value(data)


class StrictSerializerSchema(OpenApiSerializerExtension):
    """In the schema, a strict body says so (`additionalProperties: false`), so that clients
    and schema-driven tools know that an unknown field is refused, not ignored."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


class OutputSerializer(serializers.ModelSerializer):
    """Read-only model shapes; times in RFC 3339 UTC."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }


def username_field(**kwargs) -> serializers.SlugRelatedField:
    """A user foreign key shown as the user name."""
    return serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, **kwargs
    )
