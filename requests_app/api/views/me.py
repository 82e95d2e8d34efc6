"""`GET me/`: who the caller is and what they may do."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from policies_app.selectors import subject_for
from requests_app.api import examples
from requests_app.api.serializers.errors import errors
from requests_app.api.serializers.policies import MeSerializer
from requests_app.selectors import reviews_anything
from requests_app.selectors.access import active_grants


class MeView(APIView):
    @extend_schema(
        operation_id="me",
        summary="The caller: standing roles, active grants, what they may request and review",
        responses={200: MeSerializer, **errors(401)},
        examples=examples.ME,
        tags=["me"],
    )
    def get(self, request: Request) -> Response:
        user = request.user
        subject = subject_for(user)
        grants = active_grants(user).select_related("user").order_by("expires", "id")
        summary = {
            "user": user.get_username(),
            "email": getattr(user, "email", "") or "",
            "standing_roles": subject.role_names,
            "active_grants": grants,
            "requestable_roles": subject.requestable_roles,
            "can_request_resources": subject.can_search_resources,
            "is_reviewer": reviews_anything(user, subject=subject),
        }
        return Response(MeSerializer(summary).data)
