"""Policy proposals (README "Two-person rule for policy changes"): a proposed change with its
field-level diff, and the bodies that propose, approve, reject it."""

from __future__ import annotations

from rest_framework import serializers

from policies_app.models import PolicyProposal
from policies_app.policy_diff import FieldChange
from requests_app.api.serializers.base import OutputSerializer, StrictSerializer

MAX_YAML_CHARS = 1024 * 1024


class FieldChangeSerializer(serializers.Serializer):
    document = serializers.CharField(help_text='The document: "role ops", "resource db/x".')
    path = serializers.CharField(help_text="Dotted field path; empty for a whole document.")
    op = serializers.ChoiceField(choices=["created", "deleted", "changed", "added", "removed"])
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    line = serializers.SerializerMethodField(help_text="The change as apply_policies prints it.")

    def get_line(self, change: dict) -> str:
        return FieldChange(**change).line()


class PolicyProposalSerializer(OutputSerializer):
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    diff = FieldChangeSerializer(many=True)
    documents = serializers.ListField(child=serializers.DictField(), help_text="What it applies.")
    origin = serializers.CharField(
        read_only=True,
        help_text="source cli only: who ran the command, as the operating system says; the "
        "proposer a command line names is unverified.",
    )

    class Meta:
        model = PolicyProposal
        fields = [
            "id",
            "state",
            "source",
            "origin",
            "summary",
            "prune",
            "proposed_by",
            "created",
            "diff",
            "documents",
            "decided_by",
            "decided_at",
            "decision_reason",
        ]


class PolicyProposalCreateSerializer(StrictSerializer):
    yaml = serializers.CharField(
        required=False,
        max_length=MAX_YAML_CHARS,
        trim_whitespace=False,
        help_text="Policy YAML (documents separated by ---), as apply_policies reads.",
    )
    documents = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=10000,
        help_text="The same documents as JSON objects (instead of `yaml`).",
    )
    prune = serializers.BooleanField(
        default=False, help_text="Delete what the documents do not name, as --prune does."
    )
    summary = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=500, help_text="What and why."
    )
    schema_extra = {"oneOf": [{"required": ["yaml"]}, {"required": ["documents"]}]}

    def validate(self, data):
        if ("yaml" in data) == ("documents" in data):
            raise serializers.ValidationError("send exactly one of `yaml` or `documents`")
        return data


class ProposalDecisionSerializer(StrictSerializer):
    reason = serializers.CharField(
        required=False, default="", allow_blank=True, max_length=2000, help_text="Why."
    )
