"""Access review API bodies (README "Access reviews")."""

from __future__ import annotations

from rest_framework import serializers

from policies_app.services.memberships import returning_sources
from requests_app.api.fields import StrictCharField
from requests_app.api.serializers.base import StrictSerializer
from requests_app.models import CampaignItem, CampaignRun
from requests_app.services.text import MAX_REASON


class DecisionSerializer(StrictSerializer):
    reason = StrictCharField(
        max_length=MAX_REASON,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text="Why (required: an empty reason is 422 `reason_required`).",
    )


class CampaignItemSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.get_username", read_only=True)
    access_review = serializers.CharField(source="run.name", read_only=True)
    deadline = serializers.DateTimeField(source="run.deadline", read_only=True)
    returns_from = serializers.SerializerMethodField(
        help_text="Identity-provider sources (sso:, scim:) that give the role back after a "
        "removal unless it is removed there too."
    )

    class Meta:
        model = CampaignItem
        fields = [
            "id", "run", "access_review", "deadline", "user", "role", "sources", "returns_from",
            "decision", "reason", "decided_by", "decided_at", "outcome", "note",
        ]  # fmt: skip
        read_only_fields = fields

    def get_returns_from(self, item: CampaignItem) -> list[str]:
        return returning_sources(item.sources)


class CampaignRunSerializer(serializers.ModelSerializer):
    on_missed = serializers.CharField(source="spec.on_missed", read_only=True)

    class Meta:
        model = CampaignRun
        fields = ["id", "name", "state", "started", "started_by", "deadline", "closed", "on_missed"]
        read_only_fields = fields


class ReportRowSerializer(serializers.Serializer):
    user = serializers.CharField()
    role = serializers.CharField()
    sources = serializers.CharField()
    decision = serializers.CharField()
    outcome = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.CharField()
    reason = serializers.CharField()
    note = serializers.CharField()
