"""Access requests and reviews: what clients send, and what they get back."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accessportal.kernel.choices import ReviewState
from requests_app.api.fields import (
    DateTimeField,
    DurationField,
    JSONBooleanField,
    ResourceIdField,
    RoleNameField,
    StrictCharField,
)
from requests_app.api.serializers.base import OutputSerializer, StrictSerializer, username_field
from requests_app.models import AccessRequest, BreakGlass, Grant, Review
from requests_app.selectors.usage import SHOWN, unused_grants_of
from requests_app.services.access_requests import MAX_REASON, MAX_RESOURCES, MAX_ROLES
from requests_app.services.thresholds import progress

MAX_SUGGESTED_REVIEWERS = 50


def _user_name(max_length: int) -> StrictCharField:
    # As given: the service trims each name and leaves out blank ones (a blank "\r" is a
    # name left out, not a 400), then answers 422 for a name it does not know.
    return StrictCharField(max_length=max_length, trim_whitespace=False)


def _names(
    max_items: int, max_length: int, help_text: str, child=_user_name
) -> serializers.ListField:
    return serializers.ListField(
        child=child(max_length=max_length),
        max_length=max_items,
        required=False,
        default=list,
        help_text=help_text,
    )


def _reason(help_text: str) -> serializers.CharField:
    return StrictCharField(
        max_length=MAX_REASON,
        required=False,
        allow_blank=True,
        default="",
        trim_whitespace=True,
        help_text=help_text,
    )


def _duration(help_text: str, maximum: int) -> DurationField:
    return DurationField(required=False, allow_null=True, maximum=maximum, help_text=help_text)


def _access_time(help_text: str) -> DurationField:
    return _duration(help_text, settings.ACCESS_MAX_DURATION)


def _pending_time(help_text: str) -> DurationField:
    return _duration(help_text, settings.ACCESS_MAX_REQUEST_TTL)


def _dry_run(noun: str) -> JSONBooleanField:
    return JSONBooleanField(
        required=False, default=False, help_text=f"Check and show the {noun} without storing it."
    )


class RequestCreateSerializer(StrictSerializer):
    roles = _names(
        MAX_ROLES, 100, 'Role names; `["*"]` means every role you may request.', RoleNameField
    )
    resources = _names(
        MAX_RESOURCES, 320, "Resource ids `kind/name`, e.g. `node/db-prod-1`.", ResourceIdField
    )
    reason = _reason("Why you need the access; some policies require it.")
    max_duration = _access_time(
        "Access time asked for (at most 14d); lowered to the policy cap if above it."
    )
    request_ttl = _pending_time("How long the request may stay pending (default 24h, at most 7d).")
    assume_start_time = DateTimeField(
        required=False,
        allow_null=True,
        help_text="Start access no earlier than this (from now to 7 days ahead).",
    )
    suggested_reviewers = _names(MAX_SUGGESTED_REVIEWERS, 150, "User names to notify.")
    dry_run = _dry_run("request")
    break_glass = JSONBooleanField(
        required=False,
        default=False,
        help_text="Emergency access: approved at once on your own authority where every "
        "item's policy allows break-glass, capped at the ratification deadline until an "
        "eligible reviewer ratifies it (reason required; no dry_run, request_ttl or "
        "assume_start_time). 403 `break_glass_not_allowed`, 409 `break_glass_unratified`.",
    )

    # The service refuses a request for nothing ("ask for at least one role or resource"):
    # not (roles empty or absent, and resources empty or absent). Written with `not`, not
    # `anyOf` of two `required`, which openapi-python-client cannot generate a model from.
    schema_extra = {
        "not": {
            "properties": {
                "roles": {"type": "array", "maxItems": 0},
                "resources": {"type": "array", "maxItems": 0},
            }
        },
        "description": "Ask for at least one role or resource (non-empty `roles` or `resources`).",
    }


class ExtendSerializer(StrictSerializer):
    """Asking for more time on approved access: a new request for the same roles and
    resources, linked to the old one, whose access starts where the old access ends."""

    reason = _reason("Why you need more time; some policies require it.")
    max_duration = _access_time(
        "More access time asked for (at most 14d); lowered to the policy cap."
    )
    request_ttl = _pending_time(
        "How long the extension may stay pending (default 24h, at most 7d)."
    )
    suggested_reviewers = _names(MAX_SUGGESTED_REVIEWERS, 150, "User names to notify.")
    dry_run = _dry_run("extension")


class ReviewCreateSerializer(StrictSerializer):
    state = serializers.ChoiceField(choices=ReviewState.choices)
    reason = _reason("Why you approve or deny.")
    assume_start_time = DateTimeField(
        required=False,
        allow_null=True,
        help_text="When approving, move the start of access (from now to 7 days ahead).",
    )


class ReasonSerializer(StrictSerializer):
    reason = _reason("Why (optional when withdrawing).")


class ReasonRequiredSerializer(ReasonSerializer):
    """Approve, deny and revoke: the same body, whose reason the service requires. The
    schema says so (`required`, at least one character); the server answers a missing or
    empty reason, after its permission checks, with 422 `reason_required`, the one code for
    "a reason is needed" whether the action or the request's policy asks for it (README,
    Errors)."""

    reason = _reason("Why; required (a missing or empty reason: 422 `reason_required`).")
    schema_required = ("reason",)


class RatifySerializer(StrictSerializer):
    """An eligible reviewer's verdict on a break-glass use: ratify (access continues to its
    approved window) or reject (access revoked now, requester flagged)."""

    verdict = serializers.ChoiceField(choices=[("ratify", "ratify"), ("reject", "reject")])
    reason = _reason("Why; required (a missing or empty reason: 422 `reason_required`).")
    schema_required = ("reason",)


class BreakGlassSerializer(OutputSerializer):
    """A break-glass use's ratification."""

    decided_by = username_field(allow_null=True)
    status = serializers.SerializerMethodField(
        help_text="awaiting ratification, ratified, rejected, or not ratified (timed out)."
    )

    class Meta:
        model = BreakGlass
        fields = [
            "state",
            "status",
            "deadline",
            "window_expires",
            "notify",
            "decided_at",
            "decided_by",
            "decision_reason",
        ]

    def get_status(self, obj: BreakGlass) -> str:
        return obj.status_at(timezone.now())


class ReviewSerializer(OutputSerializer):
    reviewer = username_field()

    class Meta:
        model = Review
        fields = ["reviewer", "state", "reason", "assume_start_time", "created"]


class ThresholdProgressSerializer(serializers.Serializer):
    name = serializers.CharField()
    filter = serializers.CharField(help_text="Predicate a review must match to count.")
    approve = serializers.IntegerField(help_text="Approvals needed (0: never fires).")
    deny = serializers.IntegerField(help_text="Denials that deny the request (0: never fires).")
    approvals = serializers.IntegerField(help_text="Approvals counted so far.")
    denials = serializers.IntegerField(help_text="Denials counted so far.")


class AccessRequestSerializer(OutputSerializer):
    """A request as stored; `id` is null only in a dry run's answer (nothing stored)."""

    id = serializers.UUIDField(read_only=True, allow_null=True)
    user = username_field()
    resolved_by = username_field(allow_null=True)
    revoked_by = username_field(allow_null=True)
    expires = DateTimeField(read_only=True, help_text="Pending until: expires if unresolved.")
    max_duration = serializers.IntegerField(
        read_only=True, help_text="Seconds of access if approved (after policy caps)."
    )
    requested_duration = serializers.IntegerField(
        read_only=True, help_text="Seconds of access asked for."
    )
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    resources = serializers.ListField(child=serializers.CharField(), read_only=True)
    suggested_reviewers = serializers.ListField(child=serializers.CharField(), read_only=True)
    extends = serializers.UUIDField(
        source="extends_id",
        read_only=True,
        allow_null=True,
        help_text="For an extension: the id of the approved request whose access it continues.",
    )
    thresholds = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()
    break_glass = serializers.SerializerMethodField()

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "user",
            "roles",
            "resources",
            "state",
            "reason",
            "created",
            "expires",
            "requested_duration",
            "max_duration",
            "assume_start_time",
            "access_starts",
            "access_expires",
            "suggested_reviewers",
            "extends",
            "thresholds",
            "reviews",
            "resolved_at",
            "resolved_by",
            "resolve_reason",
            "resolved_by_override",
            "revoked_at",
            "revoked_by",
            "revoke_reason",
            "break_glass",
        ]
        read_only_fields = fields

    @extend_schema_field(BreakGlassSerializer(allow_null=True))
    def get_break_glass(self, obj: AccessRequest) -> dict | None:
        """Break-glass uses only: their ratification; null for every other request."""
        glass = None if obj._state.adding else getattr(obj, "break_glass", None)
        return BreakGlassSerializer(glass).data if glass else None

    @staticmethod
    def _reviews(obj: AccessRequest) -> list[Review]:
        # A dry run's request is not stored: it has no reviews to look up.
        return [] if obj._state.adding else list(obj.reviews.all())

    @extend_schema_field(ThresholdProgressSerializer(many=True))
    def get_thresholds(self, obj: AccessRequest) -> list[dict]:
        return progress(obj.policy, self._reviews(obj))

    @extend_schema_field(ReviewSerializer(many=True))
    def get_reviews(self, obj: AccessRequest) -> list[dict]:
        return ReviewSerializer(self._reviews(obj), many=True).data

    def to_representation(self, instance: AccessRequest) -> dict:
        data = super().to_representation(instance)
        if instance._state.adding:
            data["id"] = None
        return data


class UnusedGrantSerializer(OutputSerializer):
    """A grant of the requester that was approved and never used (`selectors.usage`)."""

    role = serializers.SerializerMethodField(help_text="The granted role, or null.")
    resource = serializers.SerializerMethodField(help_text="The granted resource, or null.")
    request = serializers.UUIDField(source="request_id", read_only=True)

    class Meta:
        model = Grant
        fields = ["id", "role", "resource", "starts", "expires", "revoked_at", "request"]
        read_only_fields = fields

    def get_role(self, obj: Grant) -> str | None:
        return obj.role or None

    def get_resource(self, obj: Grant) -> str | None:
        return obj.resource or None


class AccessRequestDetailSerializer(AccessRequestSerializer):
    """One request, with what a reviewer should know about its requester's past access."""

    requester_unused_grants = serializers.SerializerMethodField(
        help_text="Grants of the requester approved and never used (no access check or "
        "credential under them) whose access ran in the last USAGE_UNUSED_WINDOW days "
        "(default 90), of requests the caller may see, newest first, at most 20; this "
        "request's own grants excluded."
    )

    class Meta(AccessRequestSerializer.Meta):
        fields = [*AccessRequestSerializer.Meta.fields, "requester_unused_grants"]
        read_only_fields = fields

    @extend_schema_field(UnusedGrantSerializer(many=True))
    def get_requester_unused_grants(self, obj: AccessRequest) -> list[dict]:
        if obj._state.adding:
            return []
        grants = unused_grants_of(
            user_id=obj.user_id, viewer=self.context["request"].user, exclude_request=obj.pk
        )[:SHOWN]
        return UnusedGrantSerializer(grants, many=True).data
