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

from django.db import connection
from django.db.models import QuerySet

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import IllegalTransition, NotApproved, NotPending
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
    locking them as it goes: `UPDATE ... WHERE id IN (candidates still in source, FOR
    UPDATE) AND state = source RETURNING ...`. The rows it returns are exactly the ones
    moved, as tuples of `returning` (field names of the request, or `user__<field>`).

    Locking is that of `SELECT ... FOR UPDATE` followed by the UPDATE (a row held by
    another transaction is waited for, then re-checked: one that left `source` is not
    moved), in one round trip and without model instances: the expiry sweep's path.
    At most `limit`, in the order of `candidates` (the lock order); it is not evaluated.
    """
    transition_check(source, target)
    meta = AccessRequest._meta
    qn = connection.ops.quote_name
    table = qn(meta.db_table)
    picked, picked_params = (
        candidates.filter(state=source)
        .select_for_update(of=("self",))
        .values("pk")[:limit]
        .query.sql_with_params()
    )
    sets = {"state": target, "updated": now, **values}
    assignments = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in sets)
    set_params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in sets.items()
    ]
    # id: the review rows end with PENDING; roles, resources: metrics
    names = list(dict.fromkeys([*returning, "id", "roles", "resources"]))
    columns, fields = [], []
    for name in names:
        if name.startswith("user__"):
            user_meta = meta.get_field("user").related_model._meta
            field = user_meta.get_field(name.removeprefix("user__"))
            columns.append(
                f"(SELECT u.{qn(field.column)} FROM {qn(user_meta.db_table)} u "
                f"WHERE u.{qn(user_meta.pk.column)} = {table}.{qn(meta.get_field('user').column)})"
            )
        else:
            field = meta.get_field(name)
            columns.append(f"{table}.{qn(field.column)}")
        fields.append(field)
    pk, state = qn(meta.pk.column), qn(meta.get_field("state").column)
    # PostgreSQL: the picked ids as one array, computed once, then a primary-key probe
    # each (`IN (subquery)` is planned as a hash join over every row in `source`).
    picked = f"= ANY(ARRAY({picked}))" if connection.vendor == "postgresql" else f"IN ({picked})"
    sql = (
        f"UPDATE {table} SET {assignments} WHERE {pk} {picked} AND {state} = %s "
        f"RETURNING {', '.join(columns)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*set_params, *picked_params, source])
        raw = cursor.fetchall()
    # As the ORM reads them: each column through its field's and the backend's converters.
    converters = []
    for field in fields:
        col = field.get_col(field.model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        converters.append((found, col))
    rows = [
        tuple(
            _convert(value, found, col) for value, (found, col) in zip(row, converters, strict=True)
        )
        for row in raw
    ]
    if source == S.PENDING:  # as `resolve_locked` settles a single resolution
        ids = [row[names.index("id")] for row in rows]
        request_review_rows_end(ids, resolved_at=values.get("resolved_at"))
    roles, resources = names.index("roles"), names.index("resources")
    observe.requests_entered(target, [_Kind(row[roles], row[resources]) for row in rows])
    wanted = len(returning)
    return rows if len(names) == wanted else [row[:wanted] for row in rows]


def _convert(value, converters, col):
    for converter in converters:
        value = converter(value, col, connection)
    return value


class _Kind(NamedTuple):
    """What `observe.requests_entered` reads of a moved request."""

    roles: list
    resources: list
