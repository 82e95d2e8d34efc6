"""Access requests: create, list, show, review, withdraw, approve/deny, revoke, extend,
and the ratification of break-glass uses.

Every write is one domain service call; the service locks the row and is the authority on
who may do what. A request the caller may not see answers 404 before any service runs.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import NotFound, Unprocessable
from requests_app.api import examples
from requests_app.api.csv_export import CSVRenderer, FormatParameterMixin
from requests_app.api.etags import if_match, with_etag
from requests_app.api.filters import AccessRequestFilter
from requests_app.api.idempotency import idempotent
from requests_app.api.serializers.errors import LIST_ERRORS, errors, json_errors
from requests_app.api.serializers.requests import (
    AccessRequestDetailSerializer,
    AccessRequestSerializer,
    ExtendSerializer,
    RatifySerializer,
    ReasonRequiredSerializer,
    ReasonSerializer,
    RequestCreateSerializer,
    ReviewCreateSerializer,
)
from requests_app.models import AccessRequest, Review
from requests_app.selectors import requests_needing_review
from requests_app.selectors.break_glass import break_glass_awaiting_for
from requests_app.selectors.exports import REQUEST_COLUMNS, requests_csv
from requests_app.services.access_requests import access_request_create
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from requests_app.services.extensions import access_request_extend, ensure_may_extend
from requests_app.services.grants import access_request_revoke
from requests_app.services.known_relations import relations_known
from requests_app.services.resolution import access_request_resolve, access_request_withdraw
from requests_app.services.reviews import review_submit

ID = OpenApiParameter("id", uuid.UUID, OpenApiParameter.PATH, description="The request id.")


ACTION_ERRORS = errors(400, 401, 403, 404, 409, 413)


def _action_schema(summary: str, *, body, ok: int = 200, examples_: list, **kwargs):
    """Schema of a POST action on one request: answers with the request as it is after."""
    return extend_schema(
        summary=summary,
        parameters=[ID],
        request=body,
        responses={ok: AccessRequestSerializer, **ACTION_ERRORS},
        examples=examples_,
        tags=["requests"],
        **kwargs,
    )


@extend_schema_view(
    list=extend_schema(
        operation_id="requests_list",
        summary="Requests the caller may see, newest first (scope=needs_review: oldest first)",
        responses={200: AccessRequestSerializer(many=True), **LIST_ERRORS},
        examples=examples.REQUEST_LIST,
        tags=["requests"],
    ),
    retrieve=extend_schema(
        operation_id="requests_retrieve",
        summary="One request, with its thresholds and reviews",
        parameters=[ID],
        responses={200: AccessRequestDetailSerializer, **errors(401, 404)},
        examples=examples.REQUEST_DETAIL,
        tags=["requests"],
    ),
    create=extend_schema(
        operation_id="requests_create",
        summary="Ask for roles and/or resources (dry_run: check only, 200, nothing stored)",
        request=RequestCreateSerializer,
        responses={
            201: AccessRequestSerializer,
            200: AccessRequestSerializer,
            **errors(400, 401, 403, 413),
        },
        examples=examples.REQUEST_CREATE,
        tags=["requests"],
    ),
    reviews=_action_schema(
        "Approve or deny as a reviewer; 201 with the request (resolved if a threshold is met)",
        body=ReviewCreateSerializer,
        ok=201,
        examples_=examples.REVIEW_CREATE,
        operation_id="requests_review",
    ),
    withdraw=_action_schema(
        "The requester withdraws their pending request",
        body=ReasonSerializer,
        examples_=examples.WITHDRAW,
        operation_id="requests_withdraw",
    ),
    approve=_action_schema(
        "Approve directly (requests_app.resolve_accessrequest; never your own; reason required)",
        body=ReasonRequiredSerializer,
        examples_=examples.resolve("APPROVED"),
        operation_id="requests_approve",
    ),
    deny=_action_schema(
        "Deny directly (requests_app.resolve_accessrequest; never your own; reason required)",
        body=ReasonRequiredSerializer,
        examples_=examples.resolve("DENIED"),
        operation_id="requests_deny",
    ),
    revoke=_action_schema(
        "End approved access now (requester, eligible reviewer or requests_app.revoke_grant)",
        body=ReasonRequiredSerializer,
        examples_=examples.REVOKE,
        operation_id="requests_revoke",
    ),
    ratify=_action_schema(
        "Ratify or reject a break-glass use (its eligible reviewers, never the requester; "
        "reason required): ratify keeps the access to its approved window, reject revokes it "
        "now and flags the requester",
        body=RatifySerializer,
        examples_=examples.RATIFY,
        operation_id="requests_ratify",
    ),
    extend=extend_schema(
        operation_id="requests_extend",
        summary="Ask for more time on your approved access: a new request, linked by `extends`, "
        "whose access starts when this one's ends (dry_run: check only, 200, nothing stored)",
        parameters=[ID],
        request=ExtendSerializer,
        responses={
            201: AccessRequestSerializer,
            200: AccessRequestSerializer,
            **ACTION_ERRORS,
        },
        examples=examples.EXTEND,
        tags=["requests"],
    ),
)
class AccessRequestViewSet(
    FormatParameterMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilter
    # Any id reaches get_object (a malformed one answers the same JSON 404 as an absent one);
    # the router's default pattern excludes dots, and such ids got Django's HTML 404.
    lookup_value_regex = "[^/]+"

    def get_queryset(self) -> QuerySet[AccessRequest]:
        user = self.request.user
        listing = self.action in ("list", "export")
        scope = self.request.query_params.get("scope") if listing else None
        if scope == "needs_review":
            queryset = requests_needing_review(user)
        elif scope == "awaiting_ratification":
            queryset = break_glass_awaiting_for(user)
        else:
            queryset = AccessRequest.objects.visible_to(user).order_by("-created", "id")
        return queryset.select_related(
            "user", "resolved_by", "revoked_by", "break_glass", "break_glass__decided_by"
        ).prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))

    def _visible_id(self) -> uuid.UUID:
        """The id of the request in the URL if the caller may see it (404 alike for absent,
        unseen or malformed, as `get_object`), without loading it: for a POST whose
        service locks and loads it."""
        try:
            pk = uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise NotFound("no such access request") from None
        if not AccessRequest.objects.visible_to(self.request.user).filter(pk=pk).exists():
            raise NotFound("no such access request")
        return pk

    def get_object(self) -> AccessRequest:
        """The request if the caller may see it; 404 alike for absent, unseen or malformed."""
        try:
            pk = uuid.UUID(str(self.kwargs["pk"]))
        except ValueError:
            raise NotFound("no such access request") from None
        request = self.get_queryset().filter(pk=pk).first()
        if request is None:
            raise NotFound("no such access request")
        return request

    @extend_schema(
        operation_id="requests_export",
        summary="Requests the caller may see, as CSV, oldest first (the list's filters)",
        description="Every request matching the filters (no pages: streamed, read in keyset "
        "pages of the database). Columns: " + ", ".join(REQUEST_COLUMNS) + ". Times in RFC "
        "3339 UTC; lists space-separated; `reviews` as `reviewer:STATE`; a cell starting "
        "with `= + - @`, a tab or a carriage return gets a leading `'`, and so does text "
        "after a `;`, `,`, tab or line break inside a cell. More than `EXPORT_MAX_ROWS` "
        "rows is a 400 `export_too_large` (narrow the period). Also answers "
        "`Accept: text/csv`; `?format=csv` is accepted.",
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            **json_errors(400, 401),
        },
        examples=examples.REQUESTS_EXPORT,
        filters=True,
        tags=["requests"],
    )
    @action(detail=False, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer])
    def export(self, request: Request) -> StreamingHttpResponse:
        return requests_csv(self.filter_queryset(self.get_queryset()))

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        target = self.get_object()
        detail = AccessRequestDetailSerializer(target, context=self.get_serializer_context())
        return with_etag(Response(detail.data), target)

    def _answer(self, code: int = status.HTTP_200_OK) -> Response:
        """The request as it is now, after the service changed it, with its ETag; a 201
        (a review was created) says where the request is."""
        return self._show(self.get_object(), code)

    def _show(self, target: AccessRequest, code: int) -> Response:
        response = with_etag(Response(self.get_serializer(target).data, status=code), target)
        if code == status.HTTP_201_CREATED:
            response["Location"] = location(target)
        return response

    def answer_committed(self, resource: str, code: int) -> Response:
        """An `Idempotency-Key` retry of a POST whose work committed but whose answer was
        lost: the request it created or changed, as it is now (idempotency.idempotent)."""
        target = self.get_queryset().filter(pk=resource).first()
        if target is None:
            raise NotFound("no such access request")
        return self._show(target, code)

    def _created(self, created: AccessRequest, dry_run: bool) -> Response:
        """A new request: 201 with its Location and ETag; a dry run's unsaved one: 200."""
        if dry_run:
            return Response(self.get_serializer(created).data, status=status.HTTP_200_OK)
        if not relations_known(created):  # else the service's instance shows what a read would
            created = self.get_queryset().get(pk=created.pk)  # as a read shows it (its ETag too)
        return self._show(created, status.HTTP_201_CREATED)

    def _input(self, serializer_class, request: Request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @idempotent(status.HTTP_201_CREATED)
    def create(self, request: Request) -> Response:
        data = self._input(RequestCreateSerializer, request)
        if data.pop("break_glass"):
            return self._break_glass(request, data)
        created = access_request_create(requester=request.user, **data)
        return self._created(created, data["dry_run"])

    def _break_glass(self, request: Request, data: dict) -> Response:
        """`break_glass: true`: the request is approved at once (201), awaiting ratification."""
        # Each is well-formed (the schema admits it), only not with break_glass: 422.
        for name in ("dry_run", "request_ttl"):
            if data.pop(name, None):
                raise Unprocessable(
                    f"{name} does not apply to break-glass access (it is approved at once)",
                    field=name,
                )
        # The arguments break-glass takes, by name: a field of an ordinary request that it
        # does not take is not passed on (the service refuses assume_start_time itself).
        taken = ("roles", "resources", "reason", "max_duration", "suggested_reviewers")
        created = break_glass_open(
            requester=request.user,
            assume_start_time=data.get("assume_start_time"),
            **{name: data[name] for name in taken if name in data},
        )
        return self._created(created, False)

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_200_OK)
    def ratify(self, request: Request, pk: str) -> Response:
        target = self.get_object()  # 404 unless visible; then the service's 403 for others
        data = self._input(RatifySerializer, request)
        break_glass_decide(
            request_id=target.pk, reviewer=request.user, if_match=if_match(request), **data
        )
        return self._answer()

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_201_CREATED)
    def reviews(self, request: Request, pk: str) -> Response:
        target = self._visible_id()
        data = self._input(ReviewCreateSerializer, request)
        review_submit(request_id=target, reviewer=request.user, if_match=if_match(request), **data)
        # Read back after the commit (not the service's instance): a session lost after the
        # commit must answer 503 "may have been saved" (tests/requests_app/test_connection_loss.py).
        return self._answer(status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_200_OK)
    def withdraw(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = self._input(ReasonSerializer, request)
        access_request_withdraw(
            request_id=target.pk,
            actor=request.user,
            reason=data["reason"],
            if_match=if_match(request),
        )
        return self._answer()

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_200_OK)
    def approve(self, request: Request, pk: str) -> Response:
        return self._resolve(request, RequestState.APPROVED)

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_200_OK)
    def deny(self, request: Request, pk: str) -> Response:
        return self._resolve(request, RequestState.DENIED)

    def _resolve(self, request: Request, state: RequestState) -> Response:
        target = self.get_object()
        data = self._input(ReasonSerializer, request)
        access_request_resolve(
            request_id=target.pk,
            actor=request.user,
            state=state,
            reason=data["reason"],
            if_match=if_match(request),
        )
        return self._answer()

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_200_OK)
    def revoke(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = self._input(ReasonSerializer, request)
        access_request_revoke(
            request_id=target.pk,
            actor=request.user,
            reason=data["reason"],
            if_match=if_match(request),
        )
        return self._answer()

    @action(detail=True, methods=["post"])
    @idempotent(status.HTTP_201_CREATED)
    def extend(self, request: Request, pk: str) -> Response:
        target = self.get_object()  # 404 unless visible; then the service's 403 for others
        ensure_may_extend(target, request.user)  # before the body is validated, as withdraw
        data = self._input(ExtendSerializer, request)
        created = access_request_extend(
            requester=request.user, request_id=target.pk, if_match=if_match(request), **data
        )
        return self._created(created, data["dry_run"])


def location(access_request: AccessRequest) -> str:
    """The request's URL, root-relative (right behind any proxy, whatever its Host)."""
    return reverse("api:request-detail", kwargs={"pk": access_request.pk})
