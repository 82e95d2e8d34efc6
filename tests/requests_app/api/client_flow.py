"""An integrator's script: the whole access flow through the client that openapi-python-client
generates from the served schema (package `access_portal_client`, see generated_client.py).

No hand-written HTTP, no Django: only the generated functions and models, so that mypy checks
every call and every field against the schema (test_generated_client.py runs it, strict, on
this module and the generated package). Each step names its persona: alice asks, bob reviews,
ivy (an integration account) checks access, erin audits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol, TypeVar, runtime_checkable
from uuid import UUID

import httpx
from access_portal_client import AuthenticatedClient
from access_portal_client.api.access import access_check
from access_portal_client.api.audit import audit_list
from access_portal_client.api.grants import grants_list
from access_portal_client.api.requests import (
    requests_create,
    requests_list,
    requests_retrieve,
    requests_review,
    requests_revoke,
)
from access_portal_client.models import (
    AccessCheck,
    AccessRequest,
    AccessRequestDetail,
    AuditEvent,
    PaginatedAccessRequestList,
    PaginatedAuditEventList,
    PaginatedGrantList,
    ReasonRequiredRequest,
    RequestCreateRequest,
    RequestsListScope,
    RequestStateEnum,
    ReviewCreateRequest,
    ReviewStateEnum,
)
from access_portal_client.types import Response

Parsed = TypeVar("Parsed")
Answer = TypeVar("Answer")


class UnexpectedAnswer(AssertionError):
    """The server answered another status or shape than the step expects."""


def expect(response: Response[Answer], status: HTTPStatus, kind: type[Parsed]) -> Parsed:
    """The parsed body of an answer with this status, as the model the schema declares."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, kind):
        raise UnexpectedAnswer(
            f"expected {status.value} {kind.__name__}, got {response.status_code.value} "
            f"{type(parsed).__name__}: {response.content[:500]!r}"
        )
    return parsed


@runtime_checkable
class Refusal(Protocol):
    """The one error shape, whichever of the schema's error models an answer parses as."""

    @property
    def detail(self) -> str: ...

    @property
    def code(self) -> object: ...


def refused(response: Response[Answer], status: HTTPStatus) -> Refusal:
    """The parsed error of an answer with this status."""
    parsed = response.parsed
    if response.status_code != status or not isinstance(parsed, Refusal):
        raise UnexpectedAnswer(
            f"expected a {status.value} refusal, got {response.status_code.value} "
            f"{type(parsed).__name__}: {response.content[:500]!r}"
        )
    return parsed


def clients(
    base_url: str, transport: httpx.BaseTransport, tokens: Mapping[str, str]
) -> dict[str, AuthenticatedClient]:
    """One client per persona, each with its API token, all over the given transport."""
    return {
        name: AuthenticatedClient(
            base_url=base_url,
            token=token,
            raise_on_unexpected_status=True,  # an undocumented status is an error, not None
            httpx_args={"transport": transport},
        )
        for name, token in tokens.items()
    }


@dataclass(frozen=True)
class Flow:
    """What each persona saw along the way, for the test to judge."""

    dry_run: AccessRequest
    created: AccessRequest
    bobs_queue: PaginatedAccessRequestList
    reviewed: AccessRequest
    second_review: Refusal
    check_while_granted: AccessCheck
    grants_while_granted: PaginatedGrantList
    revoked: AccessRequest
    check_after_revoke: AccessCheck
    grants_after_revoke: PaginatedGrantList
    shown_after_revoke: AccessRequestDetail
    audit: list[AuditEvent]


def run(personas: Mapping[str, AuthenticatedClient], *, role: str, reason: str) -> Flow:
    alice, bob, ivy, erin = (personas[name] for name in ("alice", "bob", "ivy", "erin"))
    ask = RequestCreateRequest(roles=[role], reason=reason, max_duration="2h")

    # alice checks her request first (200, nothing stored), then sends it (201)
    dry = RequestCreateRequest(roles=[role], reason=reason, max_duration="2h", dry_run=True)
    dry_run = expect(
        requests_create.sync_detailed(client=alice, body=dry), HTTPStatus.OK, AccessRequest
    )
    created = expect(
        requests_create.sync_detailed(client=alice, body=ask), HTTPStatus.CREATED, AccessRequest
    )
    request_id = require_id(created)

    # bob finds it in his queue and approves it
    bobs_queue = expect(
        requests_list.sync_detailed(client=bob, scope=RequestsListScope.NEEDS_REVIEW),
        HTTPStatus.OK,
        PaginatedAccessRequestList,
    )
    verdict = ReviewCreateRequest(state=ReviewStateEnum.APPROVED, reason=f"ok: {reason}")
    reviewed = expect(
        requests_review.sync_detailed(request_id, client=bob, body=verdict),
        HTTPStatus.CREATED,
        AccessRequest,
    )
    # a second verdict is refused, in the one error shape
    second_review = refused(
        requests_review.sync_detailed(request_id, client=bob, body=verdict), HTTPStatus.CONFLICT
    )

    # ivy, the integration account, asks whether alice has the role now; erin sees the grant
    check_while_granted = check(ivy, user="alice", role=role)
    grants_while_granted = grants(erin, request_id)

    # alice is done early: she ends her access, and it ends at once
    revoked = expect(
        requests_revoke.sync_detailed(
            request_id, client=alice, body=ReasonRequiredRequest(reason="done early")
        ),
        HTTPStatus.OK,
        AccessRequest,
    )
    check_after_revoke = check(ivy, user="alice", role=role)
    grants_after_revoke = grants(erin, request_id)
    shown_after_revoke = expect(
        requests_retrieve.sync_detailed(request_id, client=erin), HTTPStatus.OK, AccessRequestDetail
    )

    # erin, the auditor, reads the request's trail (oldest first)
    trail = expect(
        audit_list.sync_detailed(client=erin, target_id=str(request_id)),
        HTTPStatus.OK,
        PaginatedAuditEventList,
    )
    audit = sorted(trail.results, key=lambda event: event.seq)
    return Flow(
        dry_run=dry_run,
        created=created,
        bobs_queue=bobs_queue,
        reviewed=reviewed,
        second_review=second_review,
        check_while_granted=check_while_granted,
        grants_while_granted=grants_while_granted,
        revoked=revoked,
        check_after_revoke=check_after_revoke,
        grants_after_revoke=grants_after_revoke,
        shown_after_revoke=shown_after_revoke,
        audit=audit,
    )


def require_id(request: AccessRequest) -> UUID:
    if request.id is None:
        raise UnexpectedAnswer(f"a stored request has an id: {request!r}")
    return request.id


def check(client: AuthenticatedClient, *, user: str, role: str) -> AccessCheck:
    answer = access_check.sync_detailed(client=client, user=user, role=role)
    return expect(answer, HTTPStatus.OK, AccessCheck)


def grants(client: AuthenticatedClient, request_id: UUID) -> PaginatedGrantList:
    answer = grants_list.sync_detailed(client=client, request=request_id)
    return expect(answer, HTTPStatus.OK, PaginatedGrantList)


def states(requests: PaginatedAccessRequestList) -> dict[UUID | None, RequestStateEnum]:
    return {request.id: request.state for request in requests.results}
