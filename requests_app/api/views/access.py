"""`GET access/check/`: does a user have a role or reach a resource right now?

A hot path for integrations: answered from standing roles and grants whose window contains
the current instant, the checked user looked up in the same statement
(`selectors.access.access_check_by_name`).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accessportal.kernel.errors import NotAllowed, NotFound, Unprocessable
from requests_app.api import examples
from requests_app.api.permissions import CHECK_ACCESS, may_check_access_of
from requests_app.api.serializers.access import AccessCheckQuerySerializer, AccessCheckSerializer
from requests_app.api.serializers.errors import errors
from requests_app.selectors.access import access_check_by_name_for, access_use_record

# A hot path: one instance of each serializer serves every call (DRF deep-copies a
# serializer's fields on each instantiation). Both are used re-entrantly: `run_validation`
# and `to_representation` keep no state on the instance, unlike `is_valid` and `.data`.
QUERY = AccessCheckQuerySerializer()
ANSWER = AccessCheckSerializer()


class AccessCheckView(APIView):
    @extend_schema(
        operation_id="access_check",
        summary="Whether a user has a role, or reaches a `kind/name` resource, right now",
        description="Permission: a user about themself, or holders of "
        f"`{CHECK_ACCESS}` (integration accounts) about anyone. Give exactly one of `role` "
        "and `resource`: both or neither is a 422 (OpenAPI 3.0 cannot state it of query "
        "parameters). An allowed answer about another user records the use of the grants "
        "behind it (`first_used`/`last_used`); a user checking themself records nothing.",
        parameters=[AccessCheckQuerySerializer],
        responses={
            200: AccessCheckSerializer,
            **errors(400, 401, 403, 404, 422, e422="Both `role` and `resource`, or neither."),
        },
        examples=examples.ACCESS_CHECK,
        tags=["access"],
    )
    def get(self, request: Request) -> Response:
        query = QUERY.run_validation(request.query_params.dict())
        if bool(query.get("role")) == bool(query.get("resource")):
            # Not expressible in OpenAPI 3.0 query parameters: a rule on valid values.
            raise Unprocessable("give exactly one of role or resource")
        caller = request.user
        username = query.get("user") or caller.get_username()
        about_other = username != caller.get_username()
        role, resource = query.get("role"), query.get("resource")
        now = timezone.now()
        # One statement answers the check and the caller's permission version; whether the
        # caller may see the answer is decided from it before anything is answered or
        # recorded (the caller's role permissions stay in memory while it holds).
        decision, version = access_check_by_name_for(
            caller_id=caller.pk if about_other else None,
            username=username,
            role=role,
            resource=resource,
            at=now,
        )
        if not may_check_access_of(caller, username, version=version):
            raise NotAllowed(f"checking another user's access needs the {CHECK_ACCESS} permission")
        # A use is the other side asking (an integration holding check_access about a
        # user): a user checking themself proves nothing and could fake "used" (M1).
        if about_other:
            access_use_record(decision, now)
        if decision is None:
            raise NotFound("no such user", field="user")
        answer = {
            "allowed": decision.allowed,
            "expires": decision.expires,
            "via": decision.via or None,
            "user": username,
            "role": role,
            "resource": resource,
            "checked_at": now,
        }
        return Response(ANSWER.to_representation(answer))
