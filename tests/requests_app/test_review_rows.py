"""Review rows exist only while a request may be reviewed: every exit from PENDING ends
them in its own transaction, so a finished request leaves every reviewer's queue at once;
who could see it, and who could have reviewed it, stay."""

from __future__ import annotations

import pytest
import time_machine

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.selectors import eligible_reviewer_ids, requests_needing_review
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import (
    access_request_expire,
    access_request_withdraw,
    access_requests_expire_due,
)
from requests_app.services.reviews import review_submit


def _rows(request, codename: str) -> int:
    return GroupPerm.objects.filter(content_object=request, permission__codename=codename).count()


def _approve(request, requester, reviewer):
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


def _deny(request, requester, reviewer):
    review_submit(request_id=request.id, reviewer=reviewer, state="DENIED", reason="no")


def _withdraw(request, requester, reviewer):
    access_request_withdraw(request_id=request.id, actor=requester)


def _expire(request, requester, reviewer):
    with time_machine.travel(request.expires, tick=False):
        assert access_request_expire(request_id=request.id)


def _expire_due(request, requester, reviewer):
    with time_machine.travel(request.expires, tick=False):
        assert access_requests_expire_due() == 1


EXITS = {
    "approve": (_approve, RequestState.APPROVED),
    "deny": (_deny, RequestState.DENIED),
    "withdraw": (_withdraw, RequestState.WITHDRAWN),
    "expire": (_expire, RequestState.EXPIRED),
    "expire_due": (_expire_due, RequestState.EXPIRED),
}


@pytest.mark.parametrize("exit_name", sorted(EXITS))
def test_a_finished_request_leaves_every_queue_and_stays_visible(
    exit_name, requester, reviewer, second_reviewer
):
    request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
    other = access_request_create(requester=requester, roles=["db-admin"], request_ttl="3h")
    could_review = eligible_reviewer_ids(request)
    assert {reviewer.pk, second_reviewer.pk} <= set(could_review)
    assert _rows(request, "review_accessrequest") == 1
    assert list(requests_needing_review(second_reviewer)) == [request, other]

    leave, state = EXITS[exit_name]
    leave(request, requester, reviewer)

    request.refresh_from_db()
    assert request.state == state
    assert _rows(request, "review_accessrequest") == 0
    assert list(requests_needing_review(reviewer)) == [other]
    assert list(requests_needing_review(second_reviewer)) == [other]
    # Visibility of the finished request is unchanged, and so is who could have reviewed it
    # (the admin's and the portal's list).
    assert _rows(request, "view_accessrequest") == 1
    for person in (requester, reviewer, second_reviewer):
        assert AccessRequest.objects.visible_to(person).filter(pk=request.pk).exists()
    assert eligible_reviewer_ids(request) == could_review
    # The other request keeps its rows.
    assert _rows(other, "review_accessrequest") == 1


def test_the_bulk_expiry_ends_review_rows_in_one_statement_per_batch(requester, reviewer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (1, 3):
        requests = [
            access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
            for _ in range(size)
        ]
        with (
            time_machine.travel(requests[-1].expires, tick=False),
            CaptureQueriesContext(connection) as queries,
        ):
            assert access_requests_expire_due() == size
        deletes = [q for q in queries.captured_queries if "DELETE" in q["sql"].upper()]
        counts.append((len(queries.captured_queries), len(deletes)))
        assert not GroupPerm.objects.filter(
            content_object__in=requests, permission__codename="review_accessrequest"
        ).exists()
    assert counts[0] == counts[1]
    assert counts[0][1] == 1


def test_the_migration_removes_review_rows_of_finished_requests_only(
    requester, reviewer, second_reviewer
):
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Permission

    migration = import_module("requests_app.migrations.0028_review_rows_only_while_pending")
    pending = access_request_create(requester=requester, roles=["db-admin"])
    finished = access_request_create(requester=requester, roles=["db-admin"])
    glass = access_request_create(requester=requester, roles=["db-admin"])
    _deny(finished, requester, reviewer)
    _approve(glass, requester, reviewer)
    AccessRequest.objects.filter(pk=glass.pk).update(policy={"break_glass": {"notify": []}})
    # The state before: review rows left on finished requests (the old transitions).
    review = Permission.objects.get(codename="review_accessrequest")
    group = GroupPerm.objects.filter(content_object=pending).values_list("group_id").first()[0]
    for request in (finished, glass):
        GroupPerm.objects.create(content_object=request, group_id=group, permission=review)
    assert GroupPerm.objects.filter(permission=review).count() == 3

    migration.forwards(apps, None)

    assert _rows(pending, "review_accessrequest") == 1
    assert _rows(finished, "review_accessrequest") == 0
    assert _rows(glass, "review_accessrequest") == 1  # awaits its ratification
    assert _rows(finished, "view_accessrequest") == 1
    assert list(requests_needing_review(second_reviewer)) == [pending]
