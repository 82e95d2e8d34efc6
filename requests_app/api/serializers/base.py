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

    # For the schema: a strict body is required (`body_optional` says otherwise, see
    # requests_app/api/schema_hooks.py); `schema_required` names fields the domain service
    # refuses to go without (it answers 400 itself, after its permission checks);
    # `schema_extra` adds constraints across fields (e.g. `anyOf`).
    body_optional = False
    schema_required: tuple[str, ...] = ()
    schema_extra: dict = {}

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = [key for key in data if key not in self.fields]
            if unknown:
                allowed = ", ".join(self.fields)
                raise serializers.ValidationError(
                    {_shown(key): [f"unknown field (allowed: {allowed})"] for key in unknown}
                )
        return super().to_internal_value(data)


def _one_string(prop: dict) -> dict:
    """drf-spectacular writes a blank-allowed string with a pattern as `oneOf: [the string,
    an empty string]`; our text patterns match the empty string already: one schema."""
    alternatives = prop.get("oneOf", [])
    if len(alternatives) == 2 and alternatives[1] == {"type": "string", "maxLength": 0}:
        rest = {key: value for key, value in prop.items() if key != "oneOf"}
        return {**alternatives[0], **rest}
    return prop


class StrictSerializerSchema(OpenApiSerializerExtension):
    """In the schema, a strict body says so (`additionalProperties: false`), so that clients
    and schema-driven tools know that an unknown field is refused, not ignored."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        required = [*schema.get("required", []), *self.target.schema_required]
        properties = {name: _one_string(prop) for name, prop in schema["properties"].items()}
        for name in self.target.schema_required:
            prop = {key: value for key, value in properties[name].items() if key != "default"}
            if prop.get("type") == "string":
                prop["minLength"] = 1
            properties[name] = prop
        schema["properties"] = properties
        schema = {**schema, **self.target.schema_extra, "additionalProperties": False}
        if required:
            schema["required"] = list(dict.fromkeys(required))
        return schema


class OutputSerializer(serializers.ModelSerializer):
    """Read-only model shapes; times in RFC 3339 UTC."""

    # Every model field is read-only, so the schema lists each as always present
    # (`required`; `nullable` where it can be null), not as an input that may be left out.

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: DateTimeField,
    }

    def get_extra_kwargs(self) -> dict:
        extra = super().get_extra_kwargs()
        for name in self.Meta.fields:
            extra[name] = {**extra.get(name, {}), "read_only": True}
        return extra


def username_field(**kwargs) -> serializers.SlugRelatedField:
    """A user foreign key shown as the user name."""
    # Without a help text, the schema would show the user model's ("Required. 150
    # characters or fewer..."), which describes the sign-up form, not this answer.
    kwargs.setdefault("help_text", "User name.")
    return serializers.SlugRelatedField(
        slug_field=get_user_model().USERNAME_FIELD, read_only=True, **kwargs
    )
