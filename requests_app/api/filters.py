"""Query filters (django-filter). Bad values answer 400 naming the parameter, empty ones
too (`?user=` is a mistake, not "no filter"): the server is no laxer than its schema."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from django.db import connection
from django.db.models import BooleanField, Q, TextField
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from policies_app.models import Resource, Role
from requests_app.api.fields import RFC3339Error, parse_rfc3339
from requests_app.models import AccessRequest, Grant
from requests_app.querysets import grant_open_q

USERNAME = f"user__{get_user_model().USERNAME_FIELD}"
EMPTY_MESSAGE = "must not be empty: give a value or leave the parameter out"
MAX_QUERY_TEXT = 320  # user names, kinds, search text, label filters...


class StrictFilterSet(filters.FilterSet):
    """A parameter given empty (`?scope=`) is refused, naming it: django-filter would read
    it as no filter at all, silently answering something other than what was asked."""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        for name in self.filters:
            if any(value == "" for value in self.data.getlist(name)):
                self.form.add_error(name, EMPTY_MESSAGE)
                valid = False
        return valid


def text_filter(**kwargs) -> filters.CharFilter:
    return filters.CharFilter(max_length=MAX_QUERY_TEXT, **kwargs)


class StrictBooleanField(forms.NullBooleanField):
    """`true` or `false`, as the schema says; anything else is an error, not "no filter"."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value == "true":
            return True
        if value == "false":
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


class RoleFilter(StrictFilterSet):
    requestable = BooleanFilter(
        method="filter_requestable", label="Only roles the caller may (true) or may not request."
    )
    search = text_filter(method="filter_search", label="Text in name or description.")

    class Meta:
        model = Role
        fields = ["requestable", "search"]

    def filter_requestable(self, queryset, name, value):
        # The view has already worked out the caller's requestable roles (policy, in memory).
        names = self.request.parser_context["view"].requestable_roles
        return queryset.filter(name__in=names) if value else queryset.exclude(name__in=names)

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


LABEL_PATTERN = r"^[^=\u0000]+=[^\u0000]*$"


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "pattern": LABEL_PATTERN, "maxLength": MAX_QUERY_TEXT},
        "maxItems": MAX_LABEL_FILTERS,
    }
)
class LabelFilter(filters.CharFilter):
    """`key=value`, repeatable (`?label=env=prod&label=team=pay`): all must match."""


class ResourceFilter(StrictFilterSet):
    kind = text_filter(field_name="kind", label="Resource kind, e.g. node.")
    search = text_filter(method="filter_search", label="Text in kind, name or description.")
    label = LabelFilter(
        method="filter_label",
        max_length=MAX_QUERY_TEXT,
        label="`key=value`, e.g. `env=prod`; repeat for several (all must match).",
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
            if not sep or not key or "\x00" in pair or len(pair) > MAX_QUERY_TEXT:
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


def _canonical_prefix_pattern() -> str:
    """Beginnings of 8-4-4-4-12 ids with at least 4 digits, dashes only where they stand."""
    hexdigit = "[0-9a-fA-F]"
    rest = f"{hexdigit}{{0,12}}"
    for size in (4, 4, 4):
        rest = f"(?:{hexdigit}{{0,{size}}}|{hexdigit}{{{size}}}-{rest})"
    return f"^{hexdigit}{{4}}(?:{hexdigit}{{0,4}}|{hexdigit}{{4}}-{rest})$"


ID_PREFIX_PATTERN = _canonical_prefix_pattern()


def uuid_prefix_range(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """The first and last UUID that begin with `prefix` (which ID_PREFIX_PATTERN admitted):
    a range on the primary key, so the lookup is an index range scan on every database."""
    digits = prefix.lower().replace("-", "")
    return uuid.UUID(digits.ljust(32, "0")), uuid.UUID(digits.ljust(32, "f"))


@extend_schema_field(
    {"type": "string", "pattern": ID_PREFIX_PATTERN, "minLength": 4, "maxLength": 36}
)
class IdPrefixFilter(filters.CharFilter):
    """The first hex digits of a request id, dashes where the canonical form has them."""


class RFC3339Field(forms.Field):
    """An RFC 3339 time with its offset, as in request bodies, compared in UTC: a time
    without an offset (`2026-11-29`) says nothing about the instant, so it is refused.
    PostgreSQL refuses offsets beyond ±15:59 (the query then failed: a 500); any offset is
    fine once the time is converted to UTC."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return parse_rfc3339(value)
        except RFC3339Error as err:
            raise forms.ValidationError(str(err), code="invalid") from None
        except OverflowError:
            raise forms.ValidationError("time out of range", code="invalid") from None


class RFC3339Filter(filters.Filter):
    field_class = RFC3339Field


class AccessRequestFilter(StrictFilterSet):
    state = filters.MultipleChoiceFilter(
        choices=RequestState.choices, label="Request state; repeat for several."
    )
    user = text_filter(field_name=USERNAME, label="Requester's user name.")
    scope = filters.ChoiceFilter(
        choices=[
            ("mine", "my own requests"),
            ("needs_review", "pending requests I may review and have not reviewed"),
            ("reviewed", "requests I reviewed"),
            ("awaiting_ratification", "break-glass uses I may ratify, nearest deadline first"),
        ],
        method="filter_scope",
        label="mine, needs_review, reviewed or awaiting_ratification; all visible requests "
        "if omitted.",
    )
    id_prefix = IdPrefixFilter(
        method="filter_id_prefix",
        max_length=36,
        validators=[
            RegexValidator(
                ID_PREFIX_PATTERN,
                "use the beginning of a request id: 4 or more hex digits, dashes as in the id",
            )
        ],
        label="Requests whose id begins with these hex digits (at least 4), as `git` takes "
        "a commit by a prefix of its hash.",
    )

    role = text_filter(method="filter_role", label="Requests that ask for this role.")
    since = RFC3339Filter(
        field_name="created",
        lookup_expr="gte",
        label="RFC 3339 time with an offset, e.g. 2026-05-01T10:00:00Z; made at or after it.",
    )
    until = RFC3339Filter(
        field_name="created",
        lookup_expr="lt",
        label="RFC 3339 time with an offset; made strictly before it.",
    )

    class Meta:
        model = AccessRequest
        fields = ["state", "user", "scope", "id_prefix", "role", "since", "until"]

    def filter_role(self, queryset, name, value):
        return queryset.filter(requested_role_q(value))

    def filter_id_prefix(self, queryset, name, value):
        low, high = uuid_prefix_range(value)
        return queryset.filter(pk__gte=low, pk__lte=high)

    def filter_scope(self, queryset, name, value):
        # `needs_review` and `awaiting_ratification` are applied by the view (a different
        # base queryset and order).
        caller = self.request.user
        if value == "mine":
            return queryset.filter(user=caller)
        if value == "reviewed":
            return queryset.filter(pk__in=caller.reviews.values("request_id"))
        return queryset


class GrantFilter(StrictFilterSet):
    active = BooleanFilter(method="filter_active", label="Gives access right now.")
    user = text_filter(field_name=USERNAME, label="Grantee's user name.")
    request = filters.UUIDFilter(field_name="request_id", label="The request it came from.")

    class Meta:
        model = Grant
        fields = ["active", "user", "request"]

    def filter_active(self, queryset, name, value):
        active = grant_open_q(timezone.now())
        return queryset.filter(active) if value else queryset.exclude(active)


def requested_role_q(role: str) -> Q:
    """Requests whose `roles` list holds `role`: a JSON containment on PostgreSQL (`@>`),
    SQLite's `json_each` elsewhere (Django's `contains` on a JSON list is PostgreSQL's)."""
    if connection.vendor == "postgresql":
        return Q(roles__contains=[role])
    table = connection.ops.quote_name(AccessRequest._meta.db_table)
    sql = f"EXISTS (SELECT 1 FROM json_each({table}.roles) WHERE json_each.value = %s)"
    return Q(RawSQL(sql, [role], output_field=BooleanField()))


class AuditEventFilter(StrictFilterSet):
    action = text_filter(field_name="action", label="e.g. request.created")
    actor = text_filter(field_name="actor_name", label='User name, or "system".')
    since = RFC3339Filter(
        field_name="created",
        lookup_expr="gte",
        label="RFC 3339 time with an offset, e.g. 2026-05-01T10:00:00Z; events at or after it.",
    )
    until = RFC3339Filter(
        field_name="created",
        lookup_expr="lt",
        label="RFC 3339 time with an offset; events strictly before it.",
    )
    target_id = text_filter(field_name="target_id", label="e.g. a request id.")

    class Meta:
        model = AuditEvent
        fields = ["action", "actor", "since", "until", "target_id"]


class StrictOrderingFilter(OrderingFilter):
    """`ordering` must be one of the view's orderings: DRF would ignore an unknown or
    empty one and answer in the default order, as if it had been understood."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            return self.get_default_ordering(view)
        allowed = self.allowed(view)
        if raw not in allowed:
            shown = ", ".join(allowed)
            raise ValidationError(
                {self.ordering_param: [f"{raw[:64]!r} is not an ordering (use {shown})"]}
            )
        return [raw]

    def allowed(self, view) -> list[str]:
        names = [name for name, _ in self.get_valid_fields(view.get_queryset(), view)]
        return [order for name in names for order in (name, f"-{name}")]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {"type": "string", "enum": self.allowed(view)}
        return parameters


class FilterSchema(DjangoFilterExtension):
    """drf-spectacular's schema of the filters, plus what it leaves out: a text filter's
    `maxLength`, and the description of a filter whose schema is given explicitly."""

    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(
            auto_schema, model, filterset_class, field_name, filter_field
        )
        max_length = filter_field.extra.get("max_length")
        for parameter in parameters:
            schema = parameter["schema"]
            text = schema["items"] if schema.get("type") == "array" else schema
            if max_length and text.get("type") == "string":
                text.setdefault("maxLength", max_length)
            if "description" not in parameter and filter_field.label:
                parameter["description"] = str(filter_field.label)
        return parameters
