"""Audit events, for auditors."""

from __future__ import annotations

from rest_framework import serializers

from accessportal.kernel.choices import AuditAction
from accessportal.kernel.models import AuditEvent
from requests_app.api.serializers.base import OutputSerializer

# Not an enum: the set is open. Besides the request services' actions (AuditAction), each
# subsystem names its own (`api_token.created`, `user.sso_*`, `cli_login.*`, provisioning,
# directory and credential-key events...), and a new one must not break existing clients.
REQUEST_ACTIONS = sorted(
    value for name, value in vars(AuditAction).items() if name.isupper() and "." in value
)
ACTION_HELP = (
    "What happened, `subject.verb`: an open set. The access-request lifecycle: "
    + ", ".join(f"`{action}`" for action in REQUEST_ACTIONS)
    + "."
)


class AuditEventSerializer(OutputSerializer):
    actor = serializers.CharField(source="actor_name", help_text='User name, or "system".')
    data = serializers.DictField(help_text="What changed, as recorded.")
    action = serializers.CharField(help_text=ACTION_HELP)

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
