"""Guardian rows on a request written in one statement each, without reading first.

`guardian.shortcuts.assign_perm` reads the permission, the content type and the existing
row, and wraps its insert in a savepoint: six statements for one user row, four more for
each batch of group rows. The write paths (create, review) know what they add, so they
insert it directly: INSERT ... SELECT joins what is added to the permission rows, read once
in the same statement, and a row that is already there is left alone (ON CONFLICT DO
NOTHING, on guardian's unique constraint), as `assign_perm` would leave it. Portable SQL
(PostgreSQL and SQLite).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.models import AccessRequestUserObjectPermission as UserPerm

VIEW = "view_accessrequest"
REVIEW = "review_accessrequest"


def _permissions_sql(codenames: tuple[str, ...], *, crossed_with: str = "") -> tuple[str, list]:
    """`FROM ... WHERE ...` over the access-request permissions named `codenames` (alias
    `p`), each crossed with every row of `crossed_with` if given, and its parameters. The
    WHERE also keeps SQLite's parser from reading `ON CONFLICT` as a join constraint after
    INSERT ... SELECT."""
    qn = connection.ops.quote_name
    perm, ct = Permission._meta.db_table, ContentType._meta.db_table
    cross = f"{crossed_with} CROSS JOIN " if crossed_with else ""
    sql = (
        f" FROM {cross}{qn(perm)} p"
        f" INNER JOIN {qn(ct)} c ON c.{qn('id')} = p.{qn('content_type_id')}"
        f" WHERE c.{qn('app_label')} = %s AND c.{qn('model')} = %s"
        f" AND p.{qn('codename')} IN ({', '.join(['%s'] * len(codenames))})"
    )
    return sql, [AccessRequest._meta.app_label, AccessRequest._meta.model_name, *codenames]


def _request_id(request: AccessRequest):
    field = UserPerm._meta.get_field("content_object")
    return field.get_db_prep_value(request.pk, connection)


def _when(value: datetime | None):
    return GroupPerm._meta.get_field("review_opens").get_db_prep_value(value, connection)


def user_view_row_add(request: AccessRequest, user_id: int) -> None:
    """`user_id` may view `request` (guardian's user row); nothing if they already may."""
    qn = connection.ops.quote_name
    permissions, permission_params = _permissions_sql((VIEW,))
    sql = (
        f"INSERT INTO {qn(UserPerm._meta.db_table)}"
        f" ({qn('permission_id')}, {qn('user_id')}, {qn('content_object_id')})"
        f" SELECT p.{qn('id')}, %s, %s{permissions} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id, _request_id(request), *permission_params])


# Groups per INSERT: 3 parameters each, well inside SQLite's 32,766 variables (and
# PostgreSQL's 65,535 with server-side binding); one statement for any usual count.
GROUPS_PER_INSERT = 1_000


def group_rows_insert(
    request: AccessRequest, windows: Mapping[int, tuple[datetime | None, datetime | None]]
) -> None:
    """View and review rows on `request` for each group of `windows` (group id -> review
    window), one statement per `GROUPS_PER_INSERT` groups: a request just created, which
    has none yet."""
    items = list(windows.items())
    for start in range(0, len(items), GROUPS_PER_INSERT):
        _group_rows_insert(request, items[start : start + GROUPS_PER_INSERT])


def _typed(column: str, field_name: str) -> str:
    """`column` of the VALUES list as the group row's field: PostgreSQL types a VALUES
    column from its values (all NULL reads as text), so it is cast; SQLite stores by the
    target column's affinity, and its CAST would turn a date into a number."""
    if connection.vendor != "postgresql":
        return column
    return f"CAST({column} AS {GroupPerm._meta.get_field(field_name).cast_db_type(connection)})"


def _group_rows_insert(request: AccessRequest, items: list) -> None:
    """One statement: the groups' windows as a VALUES list, crossed with the view and
    review permission rows."""
    qn = connection.ops.quote_name
    permissions, permission_params = _permissions_sql((VIEW, REVIEW), crossed_with="w")
    params: list = []
    for group_id, (opens, closes) in items:
        params += [group_id, _when(opens), _when(closes)]
    sql = (
        f"WITH w (group_id, opens, closes) AS (VALUES {', '.join(['(%s, %s, %s)'] * len(items))})"
        f" INSERT INTO {qn(GroupPerm._meta.db_table)} ({qn('permission_id')}, {qn('group_id')},"
        f" {qn('content_object_id')}, {qn('review_opens')}, {qn('review_closes')})"
        f" SELECT p.{qn('id')}, w.group_id, %s, {_typed('w.opens', 'review_opens')},"
        f" {_typed('w.closes', 'review_closes')}{permissions}"
        " ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, _request_id(request), *permission_params])
