"""`GET audit/`: the hash-chained audit log, for holders of view_auditevent."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from accessportal.kernel.models import AuditEvent
from requests_app.api import examples
from requests_app.api.filters import AuditEventFilter, StrictOrderingFilter
from requests_app.api.permissions import CanReadAudit
from requests_app.api.serializers.audit import AuditEventSerializer
from requests_app.api.serializers.errors import LIST_ERRORS, errors


@extend_schema_view(
    list=extend_schema(
        operation_id="audit_list",
        summary="Audit events, newest first (`ordering=seq` for oldest first)",
        responses={200: AuditEventSerializer(many=True), **LIST_ERRORS, **errors(403)},
        examples=examples.AUDIT,
        tags=["audit"],
    )
)
class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [CanReadAudit]
    filterset_class = AuditEventFilter
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    ordering_fields = ["seq"]
    ordering = ["-seq"]
