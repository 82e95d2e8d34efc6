"""Query filters (django-filter). Bad values answer 400 naming the parameter."""

from __future__ import annotations

from datetime import UTC

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from policies_app.models import Resource, Role
from requests_app.models import AccessRequest, Grant
from requests_app.querysets import grant_open_q

USERNAME = f"user__{get_user_model().USERNAME_FIELD}"
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0, yes/no); anything else is an error, not "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise forms.ValidationError("use true or false", code="invalid")

    def validate(self, value):
        pass


class BooleanFilter(filters.BooleanFilter):
    field_class = StrictBooleanField

    def __init__(self, *args, **kwargs):
        # django-filter's BooleanWidget would read "maybe" as "no filter"; pass it through.
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


MAX_LABEL_FILTERS = 10


class RoleFilter(filters.FilterSet):
    requestable = BooleanFilter(
        method="filter_requestable", label="Only roles the caller may (true) or may not request."
    )
    search = filters.CharFilter(method="filter_search", label="Text in name or description.")

    class Meta:
        model = Role
        fields = ["requestable", "search"]

    def filter_requestable(self, queryset, name, value):
        # The view has already worked out the caller's requestable roles (policy, in memory).
        names = self.request.parser_context["view"].requestable_roles
        return queryset.filter(name__in=names) if value else queryset.exclude(name__in=names)

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class ResourceFilter(filters.FilterSet):
    kind = filters.CharFilter(field_name="kind", label="Resource kind, e.g. node.")
    search = filters.CharFilter(method="filter_search", label="Text in kind, name or description.")
    label = filters.CharFilter(
        method="filter_label", label="`key=value`; repeat for several (all must match)."
    )

    class Meta:
        model = Resource
        fields = ["kind", "search", "label"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(
            Q(name__icontains=value) | Q(kind__icontains=value) | Q(description__icontains=value)
        )

    def filter_label(self, queryset, name, value):
        pairs = self.request.query_params.getlist("label")
        if len(pairs) > MAX_LABEL_FILTERS:
            raise ValidationError({"label": [f"at most {MAX_LABEL_FILTERS} label filters"]})
        for i, pair in enumerate(pairs):
            key, sep, wanted = pair.partition("=")
            if not sep or not key or "\x00" in pair:
                raise ValidationError(
                    {
                        "label": [
                            f"{pair[:64]!r}: a label filter is written key=value, e.g. env=prod"
                        ]
                    }
                )
            alias = f"_label_{i}"
            # Cast: compare as text on every database (SQLite would read the value as JSON).
            value = Cast(KeyTextTransform(key, "labels"), output_field=TextField())
            queryset = queryset.alias(**{alias: value}).filter(**{alias: wanted})
        return queryset


class AccessRequestFilter(filters.FilterSet):
    state = filters.MultipleChoiceFilter(
        choices=RequestState.choices, label="Request state; repeat for several."
    )
    user = filters.CharFilter(field_name=USERNAME, label="Requester's user name.")
    scope = filters.ChoiceFilter(
        choices=[
            ("mine", "my own requests"),
            ("needs_review", "pending requests I may review and have not reviewed"),
            ("reviewed", "requests I reviewed"),
        ],
        method="filter_scope",
        label="mine, needs_review or reviewed; all visible requests if omitted.",
    )

    class Meta:
        model = AccessRequest
        fields = ["state", "user", "scope"]

    def filter_scope(self, queryset, name, value):
        # `needs_review` is applied by the view (a different base queryset and order).
        caller = self.request.user
        if value == "mine":
            return queryset.filter(user=caller)
        if value == "reviewed":
            return queryset.filter(pk__in=caller.reviews.values("request_id"))
        return queryset


class GrantFilter(filters.FilterSet):
    active = BooleanFilter(method="filter_active", label="Gives access right now.")
    user = filters.CharFilter(field_name=USERNAME, label="Grantee's user name.")
    request = filters.UUIDFilter(field_name="request_id", label="The request it came from.")

    class Meta:
        model = Grant
        fields = ["active", "user", "request"]

    def filter_active(self, queryset, name, value):
        active = grant_open_q(timezone.now())
        return queryset.filter(active) if value else queryset.exclude(active)


class UTCDateTimeField(IsoDateTimeField):
    """An RFC 3339 time, compared in UTC. PostgreSQL refuses offsets beyond ±15:59 (the
    query then failed: a 500); any offset is fine once the time is converted to UTC."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("time out of range", code="invalid") from None


class UTCDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class AuditEventFilter(filters.FilterSet):
    action = filters.CharFilter(field_name="action", label="e.g. request.created")
    actor = filters.CharFilter(field_name="actor_name", label='User name, or "system".')
    since = UTCDateTimeFilter(
        field_name="created", lookup_expr="gte", label="RFC 3339 time; events at or after it."
    )
    target_id = filters.CharFilter(field_name="target_id", label="e.g. a request id.")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "since", "target_id"]
