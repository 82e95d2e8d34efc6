"""`GET grants/`: grants of the requests the caller may see."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from requests_app.api import examples
from requests_app.api.filters import GrantFilter
from requests_app.api.serializers.errors import LIST_ERRORS
from requests_app.api.serializers.grants import GrantSerializer
from requests_app.models import AccessRequest, Grant


@extend_schema_view(
    list=extend_schema(
        operation_id="grants_list",
        summary="Grants (user × role or resource × window) of requests visible to the caller",
        responses={200: GrantSerializer(many=True), **LIST_ERRORS},
        examples=examples.GRANTS,
        tags=["grants"],
    )
)
class GrantViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = GrantSerializer
    filterset_class = GrantFilter

    def get_queryset(self):
        visible = AccessRequest.objects.visible_to(self.request.user).values("pk")
        return (
            Grant.objects.filter(request__in=visible)
            .select_related("user")
            .order_by("-starts", "id")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": timezone.now()}
