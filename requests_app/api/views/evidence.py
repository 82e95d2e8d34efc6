"""`GET requests/{id}/evidence/`: a request's evidence bundle (JSON, or `?format=html`).

Permission: auditors (`requests_app.view_auditevent`) who may see the request; a request
the caller cannot see is a 404, one they see without the permission a 403. Each export is
audited (`evidence.exported`). Verify a bundle offline with `accessctl evidence verify`.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accessportal.kernel.errors import ValidationFailed
from requests_app.api import examples
from requests_app.api.serializers.errors import errors
from requests_app.services.evidence import PERMISSION, evidence_bundle_export

FORMATS = ("json", "html")


class _JSONOnly(DefaultContentNegotiation):
    """Always JSON: `?format=html` is this view's own (DRF would look for an HTML renderer,
    and the schema would then list an HTML error body too)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class EvidenceView(APIView):
    content_negotiation_class = _JSONOnly

    @extend_schema(
        operation_id="requests_evidence",
        summary="A request's evidence bundle, verifiable offline",
        description=f"Permission: `{PERMISSION}` and seeing the request (else 404; seen "
        "without the permission: 403). The request, its policy snapshot, reviews, grants, "
        "notification deliveries, its audit events and a chain proof up to a signed anchor "
        "(the earliest in AUDIT_ANCHOR_FILE covering the last event; none yet: 503 "
        "`not_yet_anchored` with `Retry-After`, the worker is asked for one; without anchors "
        "503 `anchors_not_configured`; a proof above EVIDENCE_MAX_LINKS: 422 "
        "`evidence_too_large`). `?format=html` renders it for people. Audited "
        "(`evidence.exported`); check it with `accessctl evidence verify`.",
        parameters=[
            OpenApiParameter(
                "format", OpenApiTypes.STR, enum=list(FORMATS), description="json (default)"
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/html"): OpenApiTypes.STR,  # ?format=html
            **errors(400, 401, 403, 404, 422, 503),
        },
        examples=examples.EVIDENCE,
        tags=["requests"],
    )
    def get(self, request: Request, pk: str) -> Response | HttpResponse:
        shape = request.query_params.get("format", "json")
        if shape not in FORMATS:
            raise ValidationFailed("format is json or html", field="format")
        bundle = evidence_bundle_export(request_id=pk, user=request.user)
        if shape == "html":
            # The same bundle as a page for people (errors stay JSON, as for every call).
            page = render_to_string("requests_app/evidence.html", {"bundle": bundle})
            return HttpResponse(page, content_type="text/html; charset=utf-8")
        return Response(bundle)
