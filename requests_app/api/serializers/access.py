"""`access/check/`: the question and the answer."""

from __future__ import annotations

from rest_framework import serializers

from requests_app.api.fields import DateTimeField, ResourceIdField

# What gives access (selectors.access.AccessDecision.via); null when there is none.
VIA = ["standing", "grant"]
ONE_OF = "Give exactly one of `role` and `resource` (both or neither: 422)."


class AccessCheckQuerySerializer(serializers.Serializer):
    user = serializers.CharField(
        max_length=150, required=False, help_text="User name; the caller if omitted."
    )
    role = serializers.CharField(max_length=100, required=False, help_text=f"A role name. {ONE_OF}")
    resource = ResourceIdField(
        max_length=320, required=False, help_text=f"A resource, `kind/name`. {ONE_OF}"
    )


class AccessCheckSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    expires = DateTimeField(
        allow_null=True, help_text="When granted access ends; null for standing access or none."
    )
    via = serializers.ChoiceField(
        choices=VIA, allow_null=True, help_text="What gives the access; null when none does."
    )
    user = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    resource = serializers.CharField(allow_null=True)
    checked_at = DateTimeField()
