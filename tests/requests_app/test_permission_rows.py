"""Group rows on a new request: every group gets its view and review rows with its review
window, in one statement per batch that reads the permission rows once, however many
groups it carries; a row already there is left as it was."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.services import permission_rows
from requests_app.services.access_requests import access_request_create
from tests.requests_app.clock import T0, H


@pytest.fixture
def request_and_groups(requester, monkeypatch):
    monkeypatch.setattr(permission_rows, "GROUPS_PER_INSERT", 2)
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    groups = [Group.objects.create(name=f"g{i}") for i in range(5)]
    # The first batch has no window at all (PostgreSQL would read its columns as text).
    windows = {
        groups[0].pk: (None, None),
        groups[1].pk: (None, None),
        groups[2].pk: (T0 + 2 * H, None),
        groups[3].pk: (None, T0 + H),
        groups[4].pk: (T0, T0 + 3 * H),
    }
    return request, windows


def _rows(request, group_ids):
    rows = GroupPerm.objects.filter(content_object=request, group_id__in=group_ids)
    return {
        (row.group_id, row.permission.codename): (row.review_opens, row.review_closes)
        for row in rows.select_related("permission")
    }


def test_every_group_gets_its_view_and_review_rows_with_its_window(request_and_groups):
    request, windows = request_and_groups
    with CaptureQueriesContext(connection) as captured:
        permission_rows.group_rows_insert(request, windows)
    assert _rows(request, windows) == {
        (group_id, codename): window
        for group_id, window in windows.items()
        for codename in ("view_accessrequest", "review_accessrequest")
    }
    # Three batches of at most two groups, each reading the permission rows once.
    permission_table = connection.ops.quote_name(Permission._meta.db_table)
    assert [q["sql"].count(permission_table) for q in captured.captured_queries] == [1, 1, 1]


def test_a_row_already_there_is_left_as_it_was(request_and_groups):
    request, windows = request_and_groups
    permission_rows.group_rows_insert(request, windows)
    before = _rows(request, windows)
    permission_rows.group_rows_insert(request, dict.fromkeys(windows, (T0 + 9 * H, T0 + 10 * H)))
    assert _rows(request, windows) == before
