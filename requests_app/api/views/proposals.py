"""Policy proposals for GitOps pipelines (README "Two-person rule for policy changes"):
`POST policy-proposals/` (YAML or documents → 201 with id and diff, for holders of
`policies_app.add_policyproposal`), `GET` list and detail (one's own; every one for
approvers), `POST {id}/approve/` and `{id}/reject/` (another person with
`policies_app.approve_policyproposal` from a standing role), `POST {id}/withdraw/` (the
proposer)."""

from __future__ import annotations

import yaml
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from accessportal.kernel.errors import NotAllowed, ValidationFailed
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.services.proposals import (
    PROPOSE_PERMISSION as PROPOSE,
)
from policies_app.services.proposals import (
    may_propose_policy_changes,
    policy_proposal_approve,
    policy_proposal_create,
    policy_proposal_reject,
    policy_proposal_withdraw,
    proposals_visible_to,
)
from requests_app.api import examples
from requests_app.api.serializers.errors import LIST_ERRORS, errors
from requests_app.api.serializers.proposals import (
    PolicyProposalCreateSerializer,
    PolicyProposalSerializer,
    ProposalDecisionSerializer,
)

TAGS = ["policy proposals"]


def _decision(operation_id: str, summary: str, example_list, *statuses: int):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        request=ProposalDecisionSerializer,
        responses={200: PolicyProposalSerializer, **errors(*statuses)},
        examples=[examples.PROPOSAL_DECISION_BODY, *example_list],
        tags=TAGS,
    )


@extend_schema_view(
    list=extend_schema(
        operation_id="policy_proposals_list",
        summary="Policy proposals the caller may see (their own; all for approvers)",
        responses={200: PolicyProposalSerializer(many=True), **LIST_ERRORS},
        examples=examples.PROPOSALS,
        tags=TAGS,
    ),
    retrieve=extend_schema(
        operation_id="policy_proposals_retrieve",
        summary="One policy proposal, with its field-level diff",
        responses={200: PolicyProposalSerializer, **errors(401, 404)},
        examples=examples.PROPOSAL_ONE,
        tags=TAGS,
    ),
    create=extend_schema(
        operation_id="policy_proposals_propose",
        summary="Propose a policy change (YAML or documents); another person approves it",
        request=PolicyProposalCreateSerializer,
        responses={201: PolicyProposalSerializer, **errors(400, 401, 403, 422)},
        examples=[*examples.PROPOSAL_CREATE_BODIES, *examples.PROPOSAL_CREATED],
        tags=TAGS,
    ),
    approve=_decision(
        "policy_proposals_approve",
        "Approve and apply a proposal (not one's own); 409 when the policy moved under it",
        examples.PROPOSAL_APPLIED,
        400,
        401,
        403,
        404,
        409,
    ),
    reject=_decision(
        "policy_proposals_reject",
        "Reject a proposal (not one's own), reason required",
        examples.PROPOSAL_REJECTED,
        400,
        401,
        403,
        404,
        409,
        422,
    ),
    withdraw=_decision(
        "policy_proposals_withdraw",
        "The proposer withdraws their pending proposal",
        examples.PROPOSAL_WITHDRAWN,
        400,
        401,
        403,
        404,
        409,
    ),
)
class PolicyProposalViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = PolicyProposalSerializer
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return proposals_visible_to(self.request.user).order_by("-created", "-id")

    def _input(self, serializer_class, request: Request) -> dict:
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def create(self, request: Request) -> Response:
        if not may_propose_policy_changes(request.user):  # before reading the body
            raise NotAllowed(f"proposing policy changes needs the {PROPOSE} permission")
        data = self._input(PolicyProposalCreateSerializer, request)
        field = "yaml" if "yaml" in data else "documents"
        text = data.get("yaml") or yaml.safe_dump_all(data.get("documents"), sort_keys=False)
        try:
            plan = plan_from_texts([("body", text)])
            proposal = policy_proposal_create(
                plan=plan,
                proposer=request.user,
                prune=data["prune"],
                source="api",
                summary=data["summary"],
            )
        except PolicyFileError as err:
            raise ValidationFailed("; ".join(err.problems), field=field) from None
        body = PolicyProposalSerializer(proposal).data
        return Response(body, status=status.HTTP_201_CREATED)

    def _answer(self, pk: str) -> Response:
        proposal = self.get_queryset().get(pk=pk)
        return Response(PolicyProposalSerializer(proposal).data)

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = self._input(ProposalDecisionSerializer, request)
        policy_proposal_approve(proposal_id=target.pk, approver=request.user, reason=data["reason"])
        return self._answer(target.pk)

    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        data = self._input(ProposalDecisionSerializer, request)
        policy_proposal_reject(proposal_id=target.pk, approver=request.user, reason=data["reason"])
        return self._answer(target.pk)

    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str) -> Response:
        target = self.get_object()
        self._input(ProposalDecisionSerializer, request)
        policy_proposal_withdraw(proposal_id=target.pk, user=request.user)
        return self._answer(target.pk)
