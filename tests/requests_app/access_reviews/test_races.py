"""Access review races on PostgreSQL, in real threads: two deadline sweeps at once close a
run once; two reviewers deciding one item at once: one decision, the other 409; two beat
ticks at once start one run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.errors import Conflict
from accessportal.kernel.models import AuditEvent
from policies_app.models import RoleMembership
from requests_app.models import CampaignRun
from requests_app.services.access_reviews import (
    access_reviews_due,
    campaign_item_decide,
    campaign_start,
)
from tests.concurrency import run_together
from tests.requests_app.access_reviews.conftest import review_policy

pytestmark = pytest.mark.postgres


@pytest.fixture
def reviewed(transactional_db, apply_yaml):
    apply_yaml(review_policy(extra="---\nkind: user\nname: dan\nroles: [reviewer]\n"))
    sam = get_user_model().objects.get(username="sam")
    return campaign_start(review_name="reviewers-recert", actor=sam)


def _user(name: str):
    return get_user_model().objects.get(username=name)


def test_two_sweeps_at_the_deadline_close_the_run_once(reviewed):
    later = reviewed.deadline + timedelta(minutes=1)
    outcomes = run_together(
        lambda: access_reviews_due(now=later), lambda: access_reviews_due(now=later)
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert sum(o.value["closed"] for o in outcomes) == 1
    assert AuditEvent.objects.filter(action="access_review.closed").count() == 1
    assert AuditEvent.objects.filter(action="membership.removed").count() == 3
    assert not RoleMembership.objects.filter(role__name="reviewer").exists()
    assert audit_verify().ok


def test_two_reviewers_deciding_one_item_at_once_one_wins(reviewed):
    item = reviewed.items.get(user__username="bob")

    def decide(name, decision):
        return lambda: campaign_item_decide(
            item_id=item.pk, reviewer=_user(name), decision=decision, reason=f"{name} says"
        )

    outcomes = run_together(decide("carol", "KEEP"), decide("dan", "REMOVE"))
    assert sum(o.ok for o in outcomes) == 1
    (refused,) = [o.error for o in outcomes if not o.ok]
    assert isinstance(refused, Conflict)
    assert AuditEvent.objects.filter(action="access_review.decided").count() == 1


def test_two_beat_ticks_at_once_start_one_run(transactional_db, apply_yaml):
    from datetime import UTC, datetime

    from policies_app.models import AccessReview

    apply_yaml(review_policy().replace("  duration: 7d", "  schedule: '0 9 * * *'\n  duration: 7d"))
    AccessReview.objects.update(created=datetime(2026, 1, 1, tzinfo=UTC))
    tick = datetime(2026, 3, 2, 9, 0, 30, tzinfo=UTC)
    outcomes = run_together(
        lambda: access_reviews_due(now=tick), lambda: access_reviews_due(now=tick)
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert CampaignRun.objects.count() == 1
    assert AuditEvent.objects.filter(action="access_review.started").count() == 1


def _someone_waits_for_a_row_lock() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def test_an_apply_racing_a_removal_does_not_give_the_role_back(transactional_db, apply_yaml):
    """The removal has deleted bob's membership and written its hold, not yet committed;
    an apply of the files (which name bob's role) starts meanwhile. Without the lock the
    apply reads no hold, then waits in memberships_set and re-adds the role after the
    removal commits; with it the apply waits before reading the holds and reports drift."""
    import threading

    from django.db import transaction

    from policies_app.models import MembershipHold
    from policies_app.services.memberships import membership_remove

    apply_yaml(review_policy())
    removed = threading.Event()

    def remove():
        with transaction.atomic():
            membership_remove(
                user=_user("bob"), role_name="reviewer", actor=None, reason="r", removed_by="t"
            )
            removed.set()
            for _ in range(3000):  # until the apply waits on a lock (bounded: 30 s)
                if _someone_waits_for_a_row_lock():
                    break
                threading.Event().wait(0.01)

    def apply():  # bob's document changes too (traits), so the apply writes his roles
        removed.wait(30)
        bob = "name: bob\nroles: [reviewer]\n"
        return apply_yaml(review_policy().replace(bob, bob + "traits: {team: [ops]}\n"))

    outcomes = run_together(remove, apply)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert MembershipHold.objects.filter(user__username="bob").exists()
    assert not RoleMembership.objects.filter(user__username="bob", role__name="reviewer").exists()
    assert any("drift user bob" in line for line in outcomes[1].value.lines())
