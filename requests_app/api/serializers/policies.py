"""Roles and resources as a caller sees them, and the caller's own summary (`me/`)."""

from __future__ import annotations

from rest_framework import serializers

from policies_app.models import Resource, Role
from requests_app.api.serializers.base import OutputSerializer
from requests_app.api.serializers.grants import GrantSerializer


class RoleSerializer(OutputSerializer):
    requestable = serializers.SerializerMethodField(
        help_text="Whether the caller may request this role now."
    )
    held = serializers.SerializerMethodField(help_text="Whether the caller holds it (standing).")

    class Meta:
        model = Role
        fields = ["name", "description", "requestable", "held"]

    def get_requestable(self, obj: Role) -> bool:
        return obj.name in self.context["requestable"]

    def get_held(self, obj: Role) -> bool:
        return obj.name in self.context["held"]


class ResourceSerializer(OutputSerializer):
    id = serializers.CharField(source="resource_id", help_text="`kind/name`")
    labels = serializers.DictField(child=serializers.CharField())

    class Meta:
        model = Resource
        fields = ["id", "kind", "name", "labels", "description"]


class MeSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="User name.")
    email = serializers.CharField(allow_blank=True)
    standing_roles = serializers.ListField(child=serializers.CharField())
    active_grants = GrantSerializer(many=True)
    requestable_roles = serializers.ListField(child=serializers.CharField())
    can_request_resources = serializers.BooleanField(
        help_text="Whether some role lets the caller request resources."
    )
    is_reviewer = serializers.BooleanField(
        help_text="Whether the caller's standing roles let them review requests."
    )
