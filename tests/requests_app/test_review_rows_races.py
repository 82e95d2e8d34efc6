"""A policy resync racing an approval on PostgreSQL, in real threads: whichever takes the
request's lock first, no review row is left on the approved request (the resync re-reads
the state under the lock; the approval ends the rows of a resync that committed first)."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from requests_app.models import AccessRequest
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from requests_app.services.visibility import request_permissions_sync
from tests.concurrency import run_together
from tests.policies import ONCALL_REVIEWER

pytestmark = pytest.mark.postgres

# Only orders the two threads; no assertion depends on it (either order must pass).
HOLD = 0.5


@pytest.fixture
def stale(transactional_db, base_policy, apply_yaml):
    """A PENDING request as a resync read it before gina's profile got its rows."""
    alice = get_user_model().objects.get(username="alice")
    request = access_request_create(requester=alice, roles=["db-admin"])
    apply_yaml(ONCALL_REVIEWER)
    GroupPerm.objects.filter(content_object=request, group__user__username="gina").delete()
    return AccessRequest.objects.get(pk=request.pk)


def _approve(request_id):
    bob = get_user_model().objects.get(username="bob")
    return review_submit(request_id=request_id, reviewer=bob, state="APPROVED", reason="ok")


def _review_rows(request) -> int:
    return GroupPerm.objects.filter(
        content_object_id=request.pk, permission__codename="review_accessrequest"
    ).count()


def test_a_resync_waiting_for_an_approval_writes_nothing(stale, monkeypatch):
    from requests_app.services import transitions

    ended = threading.Event()
    real = transitions.request_review_rows_end

    def end_then_hold(request_ids, **options):
        deleted = real(request_ids, **options)
        ended.set()
        threading.Event().wait(HOLD)  # the resync writes before the approval commits
        return deleted

    monkeypatch.setattr(transitions, "request_review_rows_end", end_then_hold)

    def approval():
        return _approve(stale.pk)

    def resync():
        ended.wait(30)
        with transaction.atomic():
            return request_permissions_sync(stale)

    outcomes = run_together(approval, resync)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert AccessRequest.objects.get(pk=stale.pk).state == "APPROVED"
    assert _review_rows(stale) == 0
    assert not GroupPerm.objects.filter(content_object_id=stale.pk, group__user__username="gina")


def test_an_approval_waiting_for_a_resync_ends_the_rows_it_wrote(stale):
    written = threading.Event()

    def resync():
        with transaction.atomic():
            request_permissions_sync(stale)
            written.set()
            threading.Event().wait(HOLD)  # the approval arrives before this commits

    def approval():
        written.wait(30)
        return _approve(stale.pk)

    outcomes = run_together(resync, approval)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert AccessRequest.objects.get(pk=stale.pk).state == "APPROVED"
    assert _review_rows(stale) == 0
