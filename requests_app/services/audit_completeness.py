"""Does every request and grant have the audit events the services write for it?

The hash chain proves the events that are there were not changed; this proves none is
missing: a request without its creation or resolution event, a review without its event, or
a grant whose start, end, warning or refusal was never recorded, was written around the
services (or its events were removed with the chain rebuilt). Read-only.

Which events each row needs, as the services write them:
- every request: `request.created`; a resolved one the event of its state
  (`request.approved`, `.denied`, `.withdrawn`, `.expired`); a revoked one
  `request.approved` and `request.revoked`; each of its reviews a `review.submitted` by that
  reviewer; one that was sent reminder tiers `request.reminded` (all with the request as
  target); a break-glass use (or any request approved by its own requester, which only
  break-glass does) `break_glass.opened`, and once judged `break_glass.ratified` or
  `break_glass.rejected` by the reviewer who judged it;
- every grant (target `grant`): `grant.activated` when a worker started it later than its
  approval; `grant.ended` when a worker recorded its end (not for revoked grants);
  `grant.expiry_warned` when its requester was warned; `grant.activation_refused` when it
  was revoked at its start (a grant revoked with its request is covered by the request's
  `request.revoked`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from accessportal.kernel.choices import RESOLUTION_ACTIONS, AuditAction, RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.break_glass_models import Ratification
from requests_app.models import AccessRequest, Grant, Review

# The event of a break-glass verdict, by its row's state.
_VERDICT = {
    Ratification.RATIFIED: AuditAction.BREAK_GLASS_RATIFIED,
    Ratification.REJECTED: AuditAction.BREAK_GLASS_REJECTED,
}
# A revoked request was approved first.
_RESOLUTION = {**RESOLUTION_ACTIONS, RequestState.REVOKED: AuditAction.REQUEST_APPROVED}


@dataclass(frozen=True)
class MissingEvent:
    target_type: str
    target_id: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.target_type} {self.target_id}: no {self.action} event{extra}"


@dataclass(frozen=True)
class CompletenessReport:
    requests: int
    grants: int
    missing: list[MissingEvent]

    @property
    def ok(self) -> bool:
        return not self.missing


def _events(target_type: str, ids: list[str]) -> dict[str, set[tuple[str, int | None]]]:
    found: dict[str, set[tuple[str, int | None]]] = defaultdict(set)
    rows = AuditEvent.objects.filter(target_type=target_type, target_id__in=ids).values_list(
        "target_id", "action", "actor_id"
    )
    for target_id, action, actor_id in rows:
        found[target_id].add((action, actor_id))
    return found


def _request_expectations(request: dict, reviewers: list[int]) -> Iterator[tuple[str, object]]:
    """(action, reviewer id or None) the request's events must include."""
    yield AuditAction.REQUEST_CREATED, None
    if request["state"] != RequestState.PENDING:
        yield _RESOLUTION[request["state"]], None
    if request["state"] == RequestState.REVOKED:
        yield AuditAction.REQUEST_REVOKED, None
    for reviewer_id in reviewers:
        yield AuditAction.REVIEW_SUBMITTED, reviewer_id
    if request.get("reminders_sent"):
        yield AuditAction.REQUEST_REMINDED, None
    glass = request.get("break_glass__state")
    self_approved = (
        request.get("resolved_by") is not None
        and request.get("resolved_by") == request.get("user")
        and request["state"] in (RequestState.APPROVED, RequestState.REVOKED)
    )
    if glass is not None or self_approved:
        yield AuditAction.BREAK_GLASS_OPENED, None
    if glass in _VERDICT:
        yield _VERDICT[glass], request["break_glass__decided_by"]


def _grant_expectations(grant: dict, request_revoked_at) -> Iterator[str]:
    if grant["activated_at"] is not None and grant["activated_at"] != grant["created"]:
        yield AuditAction.GRANT_ACTIVATED
    if grant["revoked_at"] is not None and grant["revoked_at"] != request_revoked_at:
        yield AuditAction.GRANT_ACTIVATION_REFUSED
    if grant["ended_at"] is not None and grant["revoked_at"] is None:
        yield AuditAction.GRANT_ENDED
    if grant["warned_at"] is not None:
        yield AuditAction.GRANT_EXPIRY_WARNED


def _check_chunk(requests: list[dict]) -> tuple[int, list[MissingEvent]]:
    ids = [r["id"] for r in requests]
    events = _events("access_request", [str(pk) for pk in ids])
    reviewers: dict = defaultdict(list)
    for request_id, reviewer_id in Review.objects.filter(request_id__in=ids).values_list(
        "request_id", "reviewer_id"
    ):
        reviewers[request_id].append(reviewer_id)
    missing = []
    for request in requests:
        key = str(request["id"])
        have = events.get(key, set())
        actions = {action for action, _ in have}
        for action, reviewer_id in _request_expectations(request, reviewers[request["id"]]):
            if reviewer_id is None and action not in actions:
                missing.append(MissingEvent("access_request", key, action))
            elif reviewer_id is not None and (action, reviewer_id) not in have:
                missing.append(
                    MissingEvent("access_request", key, action, f"by user #{reviewer_id}")
                )
    revoked_at = {r["id"]: r["revoked_at"] for r in requests}
    grants = list(
        Grant.objects.filter(request_id__in=ids)
        .order_by("id")
        .values(
            "id", "request_id", "created", "activated_at", "revoked_at", "ended_at", "warned_at"
        )
    )
    grant_events = _events("grant", [str(g["id"]) for g in grants])
    for grant in grants:
        key = str(grant["id"])
        actions = {action for action, _ in grant_events.get(key, set())}
        for action in _grant_expectations(grant, revoked_at[grant["request_id"]]):
            if action not in actions:
                missing.append(MissingEvent("grant", key, action, f"request {grant['request_id']}"))
    return len(grants), missing


def audit_completeness(*, chunk_size: int = 1000) -> CompletenessReport:
    """Check every request and grant for its events, `chunk_size` requests at a time (keyset
    pages, a handful of indexed queries each: bounded memory on any size of history)."""
    requests_seen = grants_seen = 0
    missing: list[MissingEvent] = []
    last = None
    while True:
        page = AccessRequest.objects.order_by("pk").values(
            "id",
            "state",
            "revoked_at",
            "reminders_sent",
            "user",
            "resolved_by",
            "break_glass__state",
            "break_glass__decided_by",
        )
        if last is not None:
            page = page.filter(pk__gt=last)
        chunk = list(page[:chunk_size])
        if not chunk:
            break
        grants, found = _check_chunk(chunk)
        requests_seen, grants_seen = requests_seen + len(chunk), grants_seen + grants
        missing += found
        last = chunk[-1]["id"]
    return CompletenessReport(requests_seen, grants_seen, missing)
