"""The request state machine: the one table of allowed transitions and the only code that
writes `AccessRequest.state` (ARCHITECTURE.md, "State machine").

`request_transition` moves one locked request; `requests_transition_bulk` moves many in one
UPDATE that touches only rows still in the source state. Both refuse a move the table does
not list with a domain error (NotPending, IllegalTransition: 409), never silently.
Every exit from PENDING passes here, so here the request's review rows end with it
(`visibility.request_review_rows_end`), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import ConcurrentUpdate, IllegalTransition, NotApproved, NotPending
from accessportal.metrics import observe
from requests_app.models import AccessRequest
from requests_app.services.visibility import request_review_rows_end

S = RequestState
TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    S.PENDING: frozenset({S.APPROVED, S.DENIED, S.EXPIRED, S.WITHDRAWN}),
    S.APPROVED: frozenset({S.REVOKED}),
}


def transition_allowed(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(RequestState(source), frozenset())


def transition_check(source: str, target: str) -> None:
    """Raise unless the table allows `source` → `target`; the message names the rule."""
    if transition_allowed(source, target):
        return
    now = RequestState(source).lower()
    if target in TRANSITIONS[S.PENDING]:
        raise NotPending(f"this request is {now}, no longer pending")
    if target == S.REVOKED:
        raise NotApproved(f"only approved access can be revoked; this request is {now}")
    raise IllegalTransition(f"a request that is {now} cannot become {target.lower()}")


def request_transition(request: AccessRequest, target: RequestState, **values) -> list[str]:
    """Check the table, then set `state` and `values` on a request the caller holds locked.

    Returns the fields to save (with `updated`); the caller saves them once, after any
    other field it changes in the same step (an approval's access window).
    """
    transition_check(request.state, target)
    if request.state == S.PENDING:
        request_review_rows_end([request.pk])
    request.state = target
    for name, value in values.items():
        setattr(request, name, value)
    observe.requests_entered(target, [request])  # counted if the transaction commits
    return ["state", *values, "updated"]


def request_transition_save(request: AccessRequest, target: RequestState, **values) -> None:
    """`request_transition` and save what it changed."""
    request.save(update_fields=request_transition(request, target, **values))


@transaction.atomic
def requests_transition_bulk(
    requests: Sequence[AccessRequest],
    *,
    source: RequestState,
    target: RequestState,
    now: datetime,
    **values,
) -> int:
    """Move `requests` (locked by the caller) from `source` to `target` in one UPDATE.

    Refuses a pair the table does not allow and any instance not in `source`. The UPDATE
    itself filters on `source`, so a row that changed behind a stale instance is skipped;
    then the count no longer matches and the whole move is undone (ConcurrentUpdate), so
    no caller audits or announces a change that did not happen. Sets the instances too.
    """
    transition_check(source, target)
    for request in requests:
        transition_check(request.state, target)
        if request.state != source:
            raise IllegalTransition(f"a request that is {request.state.lower()} is not {source}")
    changed = AccessRequest.objects.filter(pk__in=[r.pk for r in requests], state=source).update(
        state=target, updated=now, **values
    )
    if changed != len(requests):
        raise ConcurrentUpdate(
            f"{len(requests) - changed} of {len(requests)} requests changed state at the same "
            "moment; nothing was saved, please try again"
        )
    if source == S.PENDING:
        request_review_rows_end([r.pk for r in requests])
    for request in requests:
        request.state, request.updated = target, now
        for name, value in values.items():
            setattr(request, name, value)
    observe.requests_entered(target, requests)
    return changed
