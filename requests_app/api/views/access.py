"""`GET access/check/`: does a user have a role or reach a resource right now?

A hot path for integrations: a few indexed queries, answered from standing roles and
grants whose window contains the current instant (`services.access.access_check`).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app.api import examples
from requests_app.api.permissions import CHECK_ACCESS, may_check_access_of
from requests_app.api.serializers.access import AccessCheckQuerySerializer, AccessCheckSerializer
from requests_app.api.serializers.errors import errors
from requests_app.errors import NotAllowed, NotFound
from requests_app.services.access import access_check


class AccessCheckView(APIView):
    @extend_schema(
        operation_id="access_check",
        summary="Whether a user has a role, or reaches a `kind/name` resource, right now",
        description="Permission: a user about themself, or holders of "
        f"`{CHECK_ACCESS}` (integration accounts) about anyone.",
        parameters=[
            OpenApiParameter("user", str, description="User name; the caller if omitted."),
            OpenApiParameter("role", str, description="A role name (or give `resource`)."),
            OpenApiParameter("resource", str, description="`kind/name` (or give `role`)."),
        ],
        responses={200: AccessCheckSerializer, **errors(400, 401, 403, 404)},
        examples=examples.ACCESS_CHECK,
        tags=["access"],
    )
    def get(self, request: Request) -> Response:
        query = AccessCheckQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        caller = request.user
        username = query.validated_data.get("user") or caller.get_username()
        if not may_check_access_of(caller, username):
            raise NotAllowed(f"checking another user's access needs the {CHECK_ACCESS} permission")
        if username == caller.get_username():
            subject = caller
        else:
            User = get_user_model()
            subject = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
            if subject is None:
                raise NotFound("no such user", field="user")
        role = query.validated_data.get("role")
        resource = query.validated_data.get("resource")
        now = timezone.now()
        decision = access_check(user=subject, role=role, resource=resource, at=now)
        answer = {
            "allowed": decision.allowed,
            "expires": decision.expires,
            "via": decision.via,
            "user": username,
            "role": role,
            "resource": resource,
            "checked_at": now,
        }
        return Response(AccessCheckSerializer(answer).data)
