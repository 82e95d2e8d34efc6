"""Grants: user × (role | resource) × time window, with their provisioning per target."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from requests_app.api.fields import DateTimeField
from requests_app.api.serializers.base import OutputSerializer, username_field
from requests_app.models import Grant
from requests_app.selectors.provisioning import (
    GrantProvisioning,
    grant_status,
    grants_provisioning,
)

GRANT_STATUSES = ["scheduled", "active", "ended", "revoked", "revoking"]
PROVISION_STATES = ["pending", "applied", "failed", "revoking", "removed", "kept"]


class ProvisioningRowSerializer(serializers.Serializer):
    """One target a grant's role or resource names, and how far the workers got there."""

    target = serializers.CharField(help_text="The target's label (no secrets).")
    provisioner = serializers.CharField(help_text="The provisioner's name, e.g. `postgres`.")
    state = serializers.ChoiceField(
        choices=PROVISION_STATES,
        help_text="`kept`: the grant ended, but other access keeps the user a member.",
    )
    error = serializers.CharField(
        allow_blank=True, help_text="The last failure, redacted; empty when none."
    )
    updated = DateTimeField(allow_null=True, help_text="When the assignment last changed.")


class GrantListSerializer(serializers.ListSerializer):
    """Computes the provisioning of every grant of the page at once (a fixed number of
    queries, whatever the page size) and hands it to the child."""

    def to_representation(self, data):
        grants = list(data.all() if isinstance(data, models.manager.BaseManager) else data)
        self.child.computed = grants_provisioning(grants, now=self.child.now())
        return super().to_representation(grants)


class GrantSerializer(OutputSerializer):
    user = username_field()
    role = serializers.SerializerMethodField(help_text="The granted role, or null.")
    resource = serializers.SerializerMethodField(help_text="The granted resource, or null.")
    revoked = serializers.SerializerMethodField(help_text="Whether access was ended early.")
    active = serializers.SerializerMethodField(help_text="Whether it gives access right now.")
    status = serializers.SerializerMethodField(
        help_text="`revoking`: ended or revoked, and a target has not yet confirmed the removal."
    )
    provisioning = serializers.SerializerMethodField(
        help_text="One row per provisioning target its role or resource names (empty if none)."
    )
    request = serializers.UUIDField(source="request_id", read_only=True)

    computed: dict[int, GrantProvisioning] | None = None  # set by GrantListSerializer

    class Meta:
        model = Grant
        list_serializer_class = GrantListSerializer
        fields = [
            "id",
            "user",
            "role",
            "resource",
            "starts",
            "expires",
            "revoked",
            "revoked_at",
            "first_used",
            "last_used",
            "active",
            "status",
            "provisioning",
            "request",
        ]

    def now(self):
        if "now" not in self.context:
            self.context["now"] = timezone.now()
        return self.context["now"]

    def _provisioning_of(self, obj: Grant) -> GrantProvisioning:
        if self.computed is None or obj.pk not in self.computed:
            # Serialized alone (not through the list): this grant only.
            self.computed = {**(self.computed or {})}
            self.computed |= grants_provisioning([obj], now=self.now())
        return self.computed[obj.pk]

    def get_role(self, obj: Grant) -> str | None:
        return obj.role or None

    def get_resource(self, obj: Grant) -> str | None:
        return obj.resource or None

    def get_revoked(self, obj: Grant) -> bool:
        return obj.revoked_at is not None

    def get_active(self, obj: Grant) -> bool:
        return obj.is_open_at(self.now())

    @extend_schema_field(serializers.ChoiceField(choices=GRANT_STATUSES))
    def get_status(self, obj: Grant) -> str:
        return grant_status(obj, self._provisioning_of(obj), self.now())

    @extend_schema_field(ProvisioningRowSerializer(many=True))
    def get_provisioning(self, obj: Grant) -> list[dict]:
        return ProvisioningRowSerializer(self._provisioning_of(obj).rows, many=True).data
