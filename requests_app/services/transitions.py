"""The request state machine: the one table of allowed transitions and the only code that
writes `AccessRequest.state` (ARCHITECTURE.md, "State machine").

`request_transition` moves one locked request; `requests_transition_claim` locks and moves
many in one UPDATE that touches only rows still in the source state and returns exactly
those. Both refuse a move the table does not list with a domain error (NotPending,
IllegalTransition: 409), never silently.
Every exit from PENDING passes here, so here the request's review rows end with it
(`visibility.request_review_rows_end`), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from django.db.models import QuerySet

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import IllegalTransition, NotApproved, NotPending
from accessportal.metrics import observe
from requests_app.models import AccessRequest
from requests_app.services.claims import rows_claim
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


def request_transition(
    request: AccessRequest, target: RequestState, *, settle: bool = False, **values
) -> list[str]:
    """Check the table, then set `state` and `values` on a request the caller holds locked.

    Returns the fields to save (with `updated`); the caller saves them once, after any
    other field it changes in the same step (an approval's access window). `settle`: a
    resolution (`values` has its `resolved_at`), whose unopened review windows end too
    (`visibility.request_review_rows_end`).
    """
    transition_check(request.state, target)
    if request.state == S.PENDING:
        at = values.get("resolved_at") if settle else None
        request_review_rows_end([request.pk], resolved_at=at)
    request.state = target
    for name, value in values.items():
        setattr(request, name, value)
    observe.requests_entered(target, [request])  # counted if the transaction commits
    return ["state", *values, "updated"]


def request_transition_save(request: AccessRequest, target: RequestState, **values) -> None:
    """`request_transition` and save what it changed."""
    request.save(update_fields=request_transition(request, target, **values))


def requests_transition_claim(
    candidates: QuerySet,
    *,
    source: RequestState,
    target: RequestState,
    now: datetime,
    limit: int,
    returning: Sequence[str],
    **values,
) -> list[tuple]:
    """Move the requests `candidates` selects from `source` to `target` in one statement,
    locking them as it goes (`claims.rows_claim`): `UPDATE ... WHERE id IN (candidates
    still in source, FOR UPDATE) AND state = source RETURNING ...`. The rows it returns
    are exactly the ones moved, as tuples of `returning` (field names of the request, or
    `user__<field>`).

    Locking is that of `SELECT ... FOR UPDATE` followed by the UPDATE (a row held by
    another transaction is waited for, then re-checked: one that left `source` is not
    moved), in one round trip and without model instances: the expiry sweep's path.
    At most `limit`, in the order of `candidates` (the lock order); it is not evaluated.
    """
    transition_check(source, target)
    # id: the review rows end with PENDING; roles, resources: metrics
    names = list(dict.fromkeys([*returning, "id", "roles", "resources"]))
    rows = rows_claim(
        candidates,
        guard={"state": source},
        sets={"state": target, "updated": now, **values},
        limit=limit,
        returning=names,
    )
    if source == S.PENDING:  # as `resolve_locked` settles a single resolution
        ids = [row[names.index("id")] for row in rows]
        request_review_rows_end(ids, resolved_at=values.get("resolved_at"))
    roles, resources = names.index("roles"), names.index("resources")
    observe.requests_entered(target, [_Kind(row[roles], row[resources]) for row in rows])
    wanted = len(returning)
    return rows if len(names) == wanted else [row[:wanted] for row in rows]


class _Kind(NamedTuple):
    """What `observe.requests_entered` reads of a moved request."""

    roles: list
    resources: list
