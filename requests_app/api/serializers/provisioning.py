"""Provisioning targets as operators see them: what they are, how the reconciler does, and
their assignments counted by displayed state. `config` holds the target mapping only,
whose secrets are by construction names of environment variables (`*_env`), never values."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from policies_app.models import ProvisionTarget
from requests_app.api.serializers.base import OutputSerializer
from requests_app.selectors.provisioning_targets import DISPLAY_STATES


class AssignmentCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField()
    applied = serializers.IntegerField()
    failed = serializers.IntegerField()
    revoking = serializers.IntegerField()
    removed = serializers.IntegerField()


class ProvisionTargetSerializer(OutputSerializer):
    retired = serializers.SerializerMethodField(help_text="No policy document names it any more.")
    assignments = serializers.SerializerMethodField(
        help_text="Its (user, target) assignments, counted by displayed state."
    )
    failing = serializers.SerializerMethodField(
        help_text="Assignments whose last attempt failed (granting or revoking)."
    )

    class Meta:
        model = ProvisionTarget
        fields = [
            "id",
            "label",
            "provisioner",
            "config",
            "managed",
            "roles",
            "resources",
            "retired",
            "retired_at",
            "last_reconciled_at",
            "reconcile_lag_seconds",
            "last_reconcile_error",
            "reconcile_repairs",
            "assignments",
            "failing",
        ]
        extra_kwargs = {
            "config": {"help_text": "The target's settings; secrets appear as `*_env` names."},
            "reconcile_lag_seconds": {
                "help_text": "How late the last reconcile started after it was due."
            },
            "reconcile_repairs": {"help_text": "Repairs made by the last reconcile."},
        }

    def _counts(self, obj: ProvisionTarget) -> dict[str, int]:
        return self.context["counts"][obj.pk]

    def get_retired(self, obj: ProvisionTarget) -> bool:
        return obj.retired_at is not None

    @extend_schema_field(AssignmentCountsSerializer)
    def get_assignments(self, obj: ProvisionTarget) -> dict[str, int]:
        counts = self._counts(obj)
        return {state: counts[state] for state in DISPLAY_STATES}

    def get_failing(self, obj: ProvisionTarget) -> int:
        return self._counts(obj)["failing"]


class ReconcileQueuedSerializer(serializers.Serializer):
    target = serializers.IntegerField(help_text="The target's id.")
    queued = serializers.BooleanField(help_text="A reconcile of the target was queued.")
