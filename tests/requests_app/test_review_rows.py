"""Review rows exist only while a request may be reviewed: every exit from PENDING ends
them in its own transaction, so a finished request leaves every reviewer's queue at once;
who could see it, and who could have reviewed it, stay."""

from __future__ import annotations

import pytest
import time_machine

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.selectors import eligible_reviewer_ids, requests_needing_review
from requests_app.selectors.break_glass import break_glass_awaiting_for
from requests_app.services.access_requests import access_request_create
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from requests_app.services.notifications import outbox_route
from requests_app.services.resolution import (
    access_request_expire,
    access_request_withdraw,
    access_requests_expire_due,
)
from requests_app.services.reviews import review_submit
from requests_app.services.visibility import (
    request_permissions_sync,
    reviewer_permissions_rebuild,
)
from tests.policies import BREAK_GLASS, ONCALL_REVIEWER, WINDOWED_REVIEWERS
from tests.requests_app.clock import T0, H, S, at


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


# --- Review windows, break-glass verdicts, stale rows (review of issue 22, findings 4-6) ---


@pytest.fixture
def windowed(base_policy, apply_yaml, user):
    """gina may review only after 2 h of pending time, hank only in the first hour."""
    apply_yaml(WINDOWED_REVIEWERS)
    return user("gina"), user("hank")


def _glass(requester):
    return break_glass_open(
        requester=requester, roles=["db-admin"], reason="INC-42 database down", max_duration="4h"
    )


def test_windowed_profiles_queue_a_request_only_within_their_window_and_never_after_it_ends(
    windowed, requester, reviewer
):
    gina, hank = windowed
    with at(T0):
        request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
        assert list(requests_needing_review(hank)) == [request]
        assert list(requests_needing_review(gina)) == []
    with at(T0 + 2 * H + S):
        assert list(requests_needing_review(hank)) == []
        assert list(requests_needing_review(gina)) == [request]
        assert set(eligible_reviewer_ids(request)) >= {gina.pk, reviewer.pk}
        assert hank.pk not in eligible_reviewer_ids(request)
        _approve(request, requester, reviewer)
        assert list(requests_needing_review(gina)) == []
        assert _rows(request, "review_accessrequest") == 0


def test_who_could_review_a_finished_request_is_read_within_the_window_at_its_resolution(
    windowed, requester, reviewer
):
    gina, hank = windowed
    with at(T0):
        early = access_request_create(requester=requester, roles=["db-admin"], reason="x")
        late = access_request_create(requester=requester, roles=["db-admin"], reason="y")
    with at(T0 + 30 * 60 * S):
        _deny(early, requester, reviewer)
    with at(T0 + 3 * H):
        _approve(late, requester, gina)
    early.refresh_from_db()
    late.refresh_from_db()
    with at(T0 + 5 * H):  # hank's window closed after `early` was resolved, before `late` was
        early_ids, late_ids = eligible_reviewer_ids(early), eligible_reviewer_ids(late)
    assert hank.pk in early_ids and gina.pk not in early_ids
    assert gina.pk in late_ids and hank.pk not in late_ids
    assert reviewer.pk in early_ids and reviewer.pk in late_ids


def test_a_break_glass_use_never_names_a_profile_whose_window_opens_later(
    windowed, apply_yaml, requester, reviewer
):
    gina, hank = windowed
    apply_yaml(BREAK_GLASS)
    with at(T0):
        request = _glass(requester)
        message = OutboxMessage.objects.get(request=request, event="break_glass.opened")
        assert outbox_route(message_id=message.pk)
        message.refresh_from_db()
        assert {"bob", "hank"} <= set(message.recipients)
        assert "gina" not in message.recipients
    with at(T0 + 3 * H):  # gina's window "opened", but her rule never allows a use resolved at 0
        assert gina.pk not in eligible_reviewer_ids(request)
        assert reviewer.pk in eligible_reviewer_ids(request)


@pytest.mark.parametrize("verdict", ["ratify", "reject"])
def test_a_break_glass_verdict_ends_its_review_rows(verdict, apply_yaml, requester, reviewer):
    apply_yaml(BREAK_GLASS)
    request = _glass(requester)
    before = eligible_reviewer_ids(request)
    assert _rows(request, "review_accessrequest") == 1
    assert list(break_glass_awaiting_for(reviewer)) == [request]
    assert reviewer.has_perm("requests_app.review_accessrequest", request)

    break_glass_decide(request_id=request.id, reviewer=reviewer, verdict=verdict, reason="ok")

    assert _rows(request, "review_accessrequest") == 0
    assert _rows(request, "view_accessrequest") == 1
    assert list(break_glass_awaiting_for(reviewer)) == []
    assert not reviewer.has_perm("requests_app.review_accessrequest", request)
    assert AccessRequest.objects.visible_to(reviewer).filter(pk=request.pk).exists()
    assert eligible_reviewer_ids(request) == before


def test_a_resync_holding_a_stale_copy_writes_no_rows_on_a_finished_request(
    apply_yaml, requester, reviewer, user
):
    """The resync reads PENDING requests without a lock; an approval may commit before it
    writes. The state is re-read under the request's lock, so nothing is written."""
    request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
    stale = AccessRequest.objects.get(pk=request.pk)
    _approve(request, requester, reviewer)
    apply_yaml(ONCALL_REVIEWER)  # gina: eligible now
    gina = user("gina")
    rows = GroupPerm.objects.filter(content_object=request, group__user=gina)
    assert not rows.exists()

    request_permissions_sync(stale)

    assert not rows.exists()
    assert _rows(request, "review_accessrequest") == 0
    assert not gina.has_perm("requests_app.review_accessrequest", request)


def test_a_resync_still_follows_policy_on_a_break_glass_use_awaiting_ratification(
    apply_yaml, requester, user
):
    apply_yaml(BREAK_GLASS)
    request = _glass(requester)
    apply_yaml(ONCALL_REVIEWER)  # resyncs it
    gina = user("gina")
    assert GroupPerm.objects.filter(content_object=request, group__user=gina).count() == 2
    assert list(break_glass_awaiting_for(gina)) == [request]


def test_the_periodic_rebuild_removes_review_rows_left_on_finished_requests(
    apply_yaml, requester, reviewer
):
    from django.contrib.auth.models import Permission

    apply_yaml(BREAK_GLASS)
    pending = access_request_create(requester=requester, roles=["db-admin"])
    finished = access_request_create(requester=requester, roles=["db-admin"])
    judged = _glass(requester)
    break_glass_decide(request_id=judged.id, reviewer=reviewer, verdict="ratify", reason="ok")
    _deny(finished, requester, reviewer)
    # Left behind by an older release or a write outside the services.
    review = Permission.objects.get(codename="review_accessrequest")
    group = GroupPerm.objects.filter(content_object=pending).values_list("group_id")[0][0]
    for request in (finished, judged):
        GroupPerm.objects.get_or_create(content_object=request, group_id=group, permission=review)
    awaiting = _glass(requester)  # the first was judged, so the requester may again

    reviewer_permissions_rebuild()

    assert _rows(pending, "review_accessrequest") == 1
    assert _rows(awaiting, "review_accessrequest") == 1
    assert _rows(finished, "review_accessrequest") == 0
    assert _rows(judged, "review_accessrequest") == 0
    assert _rows(finished, "view_accessrequest") == 1
    assert not reviewer.has_perm("requests_app.review_accessrequest", finished)


@pytest.mark.postgres
def test_the_migration_turned_parallel_scans_of_the_group_rows_off(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [GroupPerm._meta.db_table]
        )
        (options,) = cursor.fetchone()
    assert "parallel_workers=0" in (options or [])
    assert "autovacuum_vacuum_scale_factor=0.01" in (options or [])


@pytest.mark.parametrize("exit_name", ["expire", "expire_due"])
def test_an_expiry_by_either_path_ends_the_rows_of_a_window_that_never_opened(
    exit_name, windowed, requester, reviewer
):
    """The single expiry and the sweep leave the same rows: a profile whose window had not
    opened when the request expired (gina: after 2 h; the request expires first) could
    never review it, so its rows go, view row included; hank's view row stays."""
    gina, hank = windowed
    with at(T0):
        request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
    unopened = GroupPerm.objects.filter(content_object=request, review_opens__isnull=False)
    assert unopened.exists()
    with at(T0 + H):  # before gina's window opens
        request.expires = T0 + H
        request.save(update_fields=["expires"])
        EXITS[exit_name][0](request, requester, reviewer)
    assert not unopened.exists()
    assert AccessRequest.objects.visible_to(hank).filter(pk=request.pk).exists()
    assert _rows(request, "review_accessrequest") == 0
