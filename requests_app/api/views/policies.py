"""`GET roles/` and `GET resources/`: what exists, and what the caller may request."""

from __future__ import annotations

from functools import cached_property

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from policies_app.engine import Subject
from policies_app.models import Resource, Role
from policies_app.selectors import resources_requestable_by, subject_for
from requests_app.api import examples
from requests_app.api.filters import ResourceFilter, RoleFilter
from requests_app.api.serializers.errors import LIST_ERRORS
from requests_app.api.serializers.policies import ResourceSerializer, RoleSerializer


@extend_schema_view(
    list=extend_schema(
        operation_id="roles_list",
        summary="Every role, with whether the caller holds it and may request it",
        responses={200: RoleSerializer(many=True), **LIST_ERRORS},
        examples=examples.ROLES,
        tags=["roles"],
    )
)
class RoleViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Role.objects.order_by("name")
    serializer_class = RoleSerializer
    filterset_class = RoleFilter

    @cached_property
    def subject(self) -> Subject:
        return subject_for(self.request.user)

    @property
    def requestable_roles(self) -> list[str]:
        return self.subject.requestable_roles

    def get_serializer_context(self) -> dict:
        return {
            **super().get_serializer_context(),
            "requestable": set(self.subject.requestable_roles),
            "held": set(self.subject.role_names),
        }


@extend_schema_view(
    list=extend_schema(
        operation_id="resources_list",
        summary="Resources the caller may request (reached by one of their search-as roles)",
        responses={200: ResourceSerializer(many=True), **LIST_ERRORS},
        examples=examples.RESOURCES,
        tags=["resources"],
    )
)
class ResourceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    queryset = Resource.objects.order_by("kind", "name")
    serializer_class = ResourceSerializer
    filterset_class = ResourceFilter

    def filter_queryset(self, queryset):
        # Filters narrow the rows in the database; policy reach is matched in memory.
        return resources_requestable_by(self.request.user, super().filter_queryset(queryset))
