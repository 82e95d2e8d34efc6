"""Claim rows in one statement: lock a batch, change it, and read back exactly what moved.

`rows_claim` is the sweeps' form of "lock, then compare-and-swap" (STYLE.md): one
`UPDATE t AS claimed ... WHERE claimed.id = ANY(ARRAY(SELECT ... FOR UPDATE)) AND <guard>
RETURNING ...`, without model instances and in one round trip. The request expiry
(`transitions.requests_transition_claim`) and the grant end (`grants.grants_end_due`) use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import connection
from django.db.models import QuerySet

# The UPDATE's target, always aliased: the picking subquery reads the same table under its
# own (unaliased) name, so neither scope shadows the other.
CLAIMED = "claimed"


def _returned_row(table: str) -> str:
    """How RETURNING names the updated row: by the alias, except on SQLite, which (3.40)
    resolves RETURNING against the table's own name only ("no such column: claimed.id")."""
    return table if connection.vendor == "sqlite" else connection.ops.quote_name(CLAIMED)


def rows_claim(
    candidates: QuerySet,
    *,
    guard: dict[str, object],
    sets: dict[str, object],
    limit: int,
    returning: Sequence[str],
    computed: Sequence[Callable[[str], tuple[str, Sequence]]] = (),
    skip_locked: bool = False,
) -> list[tuple]:
    """Lock up to `limit` rows of `candidates` that match `guard`, in its order, set `sets`
    on those still matching `guard` once locked, and return exactly the rows it changed.

    `guard`: field → value (None: IS NULL), checked when picking and again in the UPDATE
    (the compare-and-swap: a row another transaction moved while we waited is not touched).
    `skip_locked`: skip rows another transaction holds, rather than wait for them.
    Each returned tuple holds `returning` (field names, or `user__<field>` for the user's
    row), converted as the ORM converts them, then the raw value of each `computed` SQL
    expression: given how to name the updated row, it returns the SQL text, which must
    alias every table it reads, and its params. RETURNING has no order.
    """
    model = candidates.model
    meta = model._meta
    qn = connection.ops.quote_name
    table, alias = qn(meta.db_table), qn(CLAIMED)
    row = _returned_row(table)

    def column(name: str, of: str = alias) -> str:
        return f"{of}.{qn(meta.get_field(name).column)}"

    picked, picked_params = (
        candidates.filter(**guard)
        .select_for_update(of=("self",), skip_locked=skip_locked)
        .values("pk")[:limit]
        .query.sql_with_params()
    )
    # PostgreSQL: the picked ids as one array, computed once, then a primary-key probe
    # each (`IN (subquery)` is planned as a hash join over every row the guard matches).
    picked = f"= ANY(ARRAY({picked}))" if connection.vendor == "postgresql" else f"IN ({picked})"
    assignments = ", ".join(f"{qn(meta.get_field(name).column)} = %s" for name in sets)
    set_params = [
        meta.get_field(name).get_db_prep_save(value, connection) for name, value in sets.items()
    ]
    guards, guard_params = [], []
    for name, value in guard.items():
        if value is None:
            guards.append(f"{column(name)} IS NULL")
        else:
            guards.append(f"{column(name)} = %s")
            guard_params.append(meta.get_field(name).get_db_prep_save(value, connection))
    columns, fields = [], []
    for name in returning:
        if name.startswith("user__"):
            user_meta = meta.get_field("user").related_model._meta
            field = user_meta.get_field(name.removeprefix("user__"))
            columns.append(
                f"(SELECT u.{qn(field.column)} FROM {qn(user_meta.db_table)} u "
                f"WHERE u.{qn(user_meta.pk.column)} = {column('user', row)})"
            )
        else:
            field = meta.get_field(name)
            columns.append(column(name, row))
        fields.append(field)
    computed_params = []
    for expression in computed:
        sql, params = expression(row)
        columns.append(sql)
        computed_params += params
    sql = (
        f"UPDATE {table} AS {alias} SET {assignments} "
        f"WHERE {alias}.{qn(meta.pk.column)} {picked} AND {' AND '.join(guards)} "
        f"RETURNING {', '.join(columns)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*set_params, *picked_params, *guard_params, *computed_params])
        raw = cursor.fetchall()
    # As the ORM reads them: each column through its field's and the backend's converters.
    converters = []
    for field in fields:
        col = field.get_col(field.model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        converters.append((found, col))
    wanted = len(fields)
    return [
        tuple(
            _convert(value, found, col)
            for value, (found, col) in zip(row[:wanted], converters, strict=True)
        )
        + tuple(row[wanted:])
        for row in raw
    ]


def _convert(value, converters, col):
    for converter in converters:
        value = converter(value, col, connection)
    return value
