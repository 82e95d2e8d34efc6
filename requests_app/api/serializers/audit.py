"""Audit events, for auditors."""

from __future__ import annotations

from rest_framework import serializers

from accessportal.kernel.models import AuditEvent
from requests_app.api.serializers.base import OutputSerializer


class AuditEventSerializer(OutputSerializer):
    actor = serializers.CharField(source="actor_name", help_text='User name, or "system".')
    data = serializers.DictField(help_text="What changed, as recorded.")

    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "created",
            "actor",
            "action",
            "target_type",
            "target_id",
            "data",
            "prev_hash",
            "hash",
        ]
