"""`GET audit/`: the hash-chained audit log, for holders of view_auditevent."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from accessportal.kernel.models import AuditEvent
from requests_app.api import examples
from requests_app.api.csv_export import CSVRenderer, FormatParameterMixin
from requests_app.api.filters import AuditEventFilter, StrictOrderingFilter
from requests_app.api.permissions import CanReadAudit
from requests_app.api.serializers.audit import AuditEventSerializer
from requests_app.api.serializers.errors import LIST_ERRORS, errors, json_errors
from requests_app.selectors.exports import AUDIT_COLUMNS, audit_csv


@extend_schema_view(
    list=extend_schema(
        operation_id="audit_list",
        summary="Audit events, newest first (`ordering=seq` for oldest first)",
        responses={200: AuditEventSerializer(many=True), **LIST_ERRORS, **errors(403)},
        examples=examples.AUDIT,
        tags=["audit"],
    )
)
class AuditEventViewSet(FormatParameterMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [CanReadAudit]
    filterset_class = AuditEventFilter

    @property
    def filter_backends(self) -> list:
        # The export is in chain order always (keyset pages by seq): no `ordering`.
        if getattr(self, "action", None) == "export":
            return [DjangoFilterBackend]
        return [DjangoFilterBackend, StrictOrderingFilter]

    ordering_fields = ["seq"]
    ordering = ["-seq"]

    @extend_schema(
        operation_id="audit_export",
        summary="Audit events as CSV, in chain order (the list's filters)",
        description="Every event matching the filters (no pages: streamed, read in keyset "
        "pages by `seq`). Columns: " + ", ".join(AUDIT_COLUMNS) + ". `data` is the event's "
        "JSON; a cell starting with `= + - @`, a tab or a carriage return gets a leading "
        "`'`, and so does text after a `;`, `,`, tab or line break inside a cell. More "
        "than `EXPORT_MAX_ROWS` rows is a 400 `export_too_large` (narrow the period). Also "
        "answers `Accept: text/csv`; `?format=csv` is accepted.",
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **json_errors(400, 401, 403),
        },
        examples=examples.AUDIT_EXPORT,
        filters=True,
        tags=["audit"],
    )
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer])
    def export(self, request: Request) -> StreamingHttpResponse:
        return audit_csv(self.filter_queryset(self.get_queryset()))
