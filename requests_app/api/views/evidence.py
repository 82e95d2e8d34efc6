"""`GET requests/{id}/evidence/`: a request's evidence bundle (JSON, or `?format=html`).

Permission: auditors (`requests_app.view_auditevent`) who may see the request; a request
the caller cannot see is a 404, one they see without the permission a 403. Each export is
audited (`evidence.exported`). Verify a bundle offline with `accessctl evidence verify`.
"""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.html import escape
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app.api.serializers.errors import errors
from requests_app.services.evidence import PERMISSION, evidence_bundle_export


class EvidenceHTMLRenderer(BaseRenderer):
    """The same bundle as a page for people (templates/requests_app/evidence.html)."""

    media_type = "text/html"
    format = "html"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            detail = data.get("detail", "") if isinstance(data, dict) else data
            return f"<!doctype html><title>Error</title><p>{escape(str(detail))}</p>".encode()
        return render_to_string("requests_app/evidence.html", {"bundle": data}).encode()


class EvidenceView(APIView):
    renderer_classes = [JSONRenderer, EvidenceHTMLRenderer]

    @extend_schema(
        operation_id="requests_evidence",
        summary="A request's evidence bundle, verifiable offline",
        description=f"Permission: `{PERMISSION}` and seeing the request (else 404; seen "
        "without the permission: 403). The request, its policy snapshot, reviews, grants, "
        "notification deliveries, its audit events and a chain proof up to a signed anchor "
        "(a fresh one is taken if none covers the last event: 503 `anchors_not_configured` "
        "without anchors). `?format=html` renders it for people. Audited "
        "(`evidence.exported`); check it with `accessctl evidence verify`.",
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=["json", "html"], description="json (default)"
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(401, 403, 404, 503)},
        tags=["requests"],
    )
    def get(self, request: Request, pk: str) -> Response:
        return Response(evidence_bundle_export(request_id=pk, user=request.user))
