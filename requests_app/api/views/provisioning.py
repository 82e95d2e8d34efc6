"""`GET provisioning/targets/` and `{id}/`: provisioning targets with the reconciler's lag
and failures, for holders of `policies_app.view_provisiontarget`; `POST {id}/reconcile/`
queues a reconcile of one target, for holders of `policies_app.change_provisiontarget`."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from policies_app.models import ProvisionTarget
from requests_app.api import examples
from requests_app.api.permissions import HasPermission
from requests_app.api.serializers.errors import LIST_ERRORS, errors
from requests_app.api.serializers.provisioning import (
    ProvisionTargetSerializer,
    ReconcileQueuedSerializer,
)
from requests_app.selectors.provisioning_targets import target_assignment_counts
from requests_app.services.provisioning.retry import provision_reconcile_request

VIEW_TARGETS = "policies_app.view_provisiontarget"


class CanViewTargets(HasPermission):
    perm = VIEW_TARGETS
    message = f"provisioning targets are shown to holders of the {VIEW_TARGETS} permission"


@extend_schema_view(
    list=extend_schema(
        operation_id="provisioning_targets_list",
        summary="Provisioning targets, with the reconciler's lag and failures",
        responses={200: ProvisionTargetSerializer(many=True), **LIST_ERRORS, **errors(403)},
        examples=examples.PROVISION_TARGETS,
        tags=["provisioning"],
    ),
    retrieve=extend_schema(
        operation_id="provisioning_targets_retrieve",
        summary="One provisioning target",
        responses={200: ProvisionTargetSerializer, **errors(401, 403, 404)},
        examples=examples.PROVISION_TARGET_ONE,
        tags=["provisioning"],
    ),
    reconcile=extend_schema(
        operation_id="provisioning_targets_reconcile",
        summary="Queue a reconcile of this target now (audited)",
        request=None,
        responses={202: ReconcileQueuedSerializer, **errors(401, 403, 404)},
        examples=examples.RECONCILE_QUEUED,
        tags=["provisioning"],
    ),
)
class ProvisionTargetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ProvisionTargetSerializer
    permission_classes = [CanViewTargets]
    queryset = ProvisionTarget.objects.order_by("provisioner", "label", "id")

    def get_serializer(self, *args, **kwargs):
        instance = args[0] if args else None
        if instance is not None:
            items = instance if kwargs.get("many") else [instance]
            ids = [t.pk for t in items]
            kwargs["context"] = {
                **self.get_serializer_context(),
                "counts": target_assignment_counts(ids),
            }
        return super().get_serializer(*args, **kwargs)

    @action(detail=True, methods=["post"])
    def reconcile(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        # Viewers may look; the service checks the change permission (403 otherwise).
        provision_reconcile_request(target_ids=[target.pk], actor=request.user)
        body = ReconcileQueuedSerializer({"target": target.pk, "queued": True}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
