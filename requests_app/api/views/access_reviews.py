"""`access-reviews/`: my review items (list, keep, remove), runs and their reports."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accessportal.kernel.errors import ValidationFailed
from requests_app.api import examples
from requests_app.api.serializers.access_reviews import (
    CampaignItemSerializer,
    CampaignRunSerializer,
    DecisionSerializer,
    ReportRowSerializer,
)
from requests_app.api.serializers.errors import LIST_ERRORS, errors
from requests_app.models import CampaignItem
from requests_app.selectors.access_reviews import (
    campaign_items_to_decide,
    campaign_items_visible_to,
    campaign_report_rows,
    campaign_runs_visible_to,
)
from requests_app.services.access_review_reports import report_csv, report_pdf
from requests_app.services.access_reviews import campaign_item_decide

TAGS = ["access-reviews"]


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, str) else ""


class PDFRenderer(renderers.BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else b""


@extend_schema_view(
    list=extend_schema(
        operation_id="access_review_items_list",
        summary="Review items: by default the open ones waiting for the caller's decision; "
        "`scope=all` every item the caller may see",
        parameters=[OpenApiParameter("scope", str, enum=["mine", "all"])],
        responses={200: CampaignItemSerializer(many=True), **LIST_ERRORS},
        examples=examples.ACCESS_REVIEW_ITEMS,
        tags=TAGS,
    ),
    retrieve=extend_schema(
        operation_id="access_review_items_retrieve",
        summary="One review item (reviewers, its member, auditors)",
        responses={200: CampaignItemSerializer, **errors(401, 404)},
        examples=examples.ACCESS_REVIEW_ITEM_ONE,
        tags=TAGS,
    ),
)
class CampaignItemViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CampaignItemSerializer

    def get_queryset(self):
        scope = self.request.query_params.get("scope", "mine")
        if scope not in ("mine", "all"):
            raise ValidationFailed("scope must be mine or all", field="scope")
        if self.action == "list" and scope == "mine":
            return campaign_items_to_decide(self.request.user)
        return (
            campaign_items_visible_to(self.request.user)
            .select_related("run", "user")
            .order_by("-run_id", "role", "user_id")
        )

    def _decide(self, request: Request, decision: str) -> Response:
        item = self.get_object()  # 404 unless visible; then the service's 403/409
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = campaign_item_decide(
            item_id=item.pk, reviewer=request.user, decision=decision, **data.validated_data
        )
        return Response(CampaignItemSerializer(item).data, status=status.HTTP_200_OK)

    @extend_schema(
        operation_id="access_review_items_keep",
        summary="Keep the membership (reason required; once)",
        request=DecisionSerializer,
        responses={200: CampaignItemSerializer, **errors(400, 401, 403, 404, 409, 422)},
        examples=examples.ACCESS_REVIEW_DECISION,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def keep(self, request: Request, pk: str) -> Response:
        return self._decide(request, CampaignItem.Decision.KEEP)

    @extend_schema(
        operation_id="access_review_items_remove",
        summary="Remove the membership now (reason required; once)",
        request=DecisionSerializer,
        responses={200: CampaignItemSerializer, **errors(400, 401, 403, 404, 409, 422)},
        examples=examples.ACCESS_REVIEW_DECISION,
        tags=TAGS,
    )
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, pk: str) -> Response:
        return self._decide(request, CampaignItem.Decision.REMOVE)


@extend_schema_view(
    list=extend_schema(
        operation_id="access_review_runs_list",
        summary="Access review runs (auditors: `requests_app.view_campaignrun`)",
        responses={200: CampaignRunSerializer(many=True), **LIST_ERRORS},
        examples=examples.ACCESS_REVIEW_RUNS,
        tags=TAGS,
    ),
    retrieve=extend_schema(
        operation_id="access_review_runs_retrieve",
        summary="One access review run",
        responses={200: CampaignRunSerializer, **errors(401, 404)},
        examples=examples.ACCESS_REVIEW_RUN_ONE,
        tags=TAGS,
    ),
)
class CampaignRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = CampaignRunSerializer

    def get_queryset(self):
        return campaign_runs_visible_to(self.request.user).order_by("-started", "-id")

    @extend_schema(
        operation_id="access_review_runs_report",
        summary="The run's report: who decided what, when, the outcome",
        description="JSON by default; `Accept: text/csv` answers CSV (cells a spreadsheet "
        "would run as a formula start with `'`), `Accept: application/pdf` a PDF.",
        responses={200: ReportRowSerializer(many=True), **errors(401, 404)},
        examples=examples.ACCESS_REVIEW_REPORT,
        tags=TAGS,
    )
    @action(detail=True, methods=["get"], pagination_class=None)  # the whole report
    def report(self, request: Request, pk: str) -> Response:
        run = self.get_object()
        media = request.accepted_renderer.media_type
        if media == CSVRenderer.media_type:
            response = Response(report_csv(run))
            response["Content-Disposition"] = f'attachment; filename="access-review-{run.pk}.csv"'
            return response
        if media == PDFRenderer.media_type:
            response = Response(report_pdf(run))
            response["Content-Disposition"] = f'attachment; filename="access-review-{run.pk}.pdf"'
            return response
        return Response(ReportRowSerializer(campaign_report_rows(run), many=True).data)

    def get_renderers(self):
        # The report also answers CSV and PDF; the schema documents its JSON (its
        # description names the other two), so the generator sees the JSON renderer only.
        if self.action == "report" and not getattr(self, "swagger_fake_view", False):
            return [renderers.JSONRenderer(), CSVRenderer(), PDFRenderer()]
        return super().get_renderers()
