"""Guardian rows on a request written in one statement each, without reading first.

`guardian.shortcuts.assign_perm` reads the permission, the content type and the existing
row, and wraps its insert in a savepoint: six statements for one user row, four more for
each batch of group rows. The write paths (create, review) know what they add, so they
insert it directly: the permission's id is a subquery of the same statement, and a row
that is already there is left alone (ON CONFLICT DO NOTHING, on guardian's unique
constraint), as `assign_perm` would leave it. Portable SQL (PostgreSQL and SQLite).
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


def _permission_sql() -> str:
    """A scalar subquery for the id of the access-request permission named by the next
    parameter."""
    qn = connection.ops.quote_name
    perm, ct = Permission._meta.db_table, ContentType._meta.db_table
    return (
        f"(SELECT p.{qn('id')} FROM {qn(perm)} p INNER JOIN {qn(ct)} c"
        f" ON c.{qn('id')} = p.{qn('content_type_id')}"
        f" WHERE c.{qn('app_label')} = %s AND c.{qn('model')} = %s AND p.{qn('codename')} = %s)"
    )


def _permission_params(codename: str) -> list[str]:
    return [AccessRequest._meta.app_label, AccessRequest._meta.model_name, codename]


def _request_id(request: AccessRequest):
    field = UserPerm._meta.get_field("content_object")
    return field.get_db_prep_value(request.pk, connection)


def _when(value: datetime | None):
    return GroupPerm._meta.get_field("review_opens").get_db_prep_value(value, connection)


def user_view_row_add(request: AccessRequest, user_id: int) -> None:
    """`user_id` may view `request` (guardian's user row); nothing if they already may."""
    qn = connection.ops.quote_name
    sql = (
        f"INSERT INTO {qn(UserPerm._meta.db_table)}"
        f" ({qn('permission_id')}, {qn('user_id')}, {qn('content_object_id')})"
        f" VALUES ({_permission_sql()}, %s, %s) ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_permission_params(VIEW), user_id, _request_id(request)])


# Groups per INSERT: 2 rows of 7 parameters each, well inside SQLite's 32,766 variables
# (and PostgreSQL's 65,535 with server-side binding); one statement for any usual count.
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


def _group_rows_insert(request: AccessRequest, items: list) -> None:
    qn = connection.ops.quote_name
    row = f"({_permission_sql()}, %s, %s, %s, %s)"
    params: list = []
    rows = []
    request_id = _request_id(request)
    for group_id, (opens, closes) in items:
        for codename in (VIEW, REVIEW):
            rows.append(row)
            params += [*_permission_params(codename), group_id, request_id]
            params += [_when(opens), _when(closes)]
    sql = (
        f"INSERT INTO {qn(GroupPerm._meta.db_table)} ({qn('permission_id')}, {qn('group_id')},"
        f" {qn('content_object_id')}, {qn('review_opens')}, {qn('review_closes')})"
        f" VALUES {', '.join(rows)} ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
