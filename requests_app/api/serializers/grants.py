"""Grants: user × (role | resource) × time window."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from requests_app.api.serializers.base import OutputSerializer, username_field
from requests_app.models import Grant


class GrantSerializer(OutputSerializer):
    user = username_field()
    role = serializers.SerializerMethodField(help_text="The granted role, or null.")
    resource = serializers.SerializerMethodField(help_text="The granted resource, or null.")
    revoked = serializers.SerializerMethodField(help_text="Whether access was ended early.")
    active = serializers.SerializerMethodField(help_text="Whether it gives access right now.")
    request = serializers.UUIDField(source="request_id", read_only=True)

    class Meta:
        model = Grant
        fields = [
            "id",
            "user",
            "role",
            "resource",
            "starts",
            "expires",
            "revoked",
            "revoked_at",
            "active",
            "request",
        ]

    def get_role(self, obj: Grant) -> str | None:
        return obj.role or None

    def get_resource(self, obj: Grant) -> str | None:
        return obj.resource or None

    def get_revoked(self, obj: Grant) -> bool:
        return obj.revoked_at is not None

    def get_active(self, obj: Grant) -> bool:
        now = self.context.get("now") or timezone.now()
        return obj.is_open_at(now)
