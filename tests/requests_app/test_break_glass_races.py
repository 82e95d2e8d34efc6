"""Break-glass races on PostgreSQL, in real threads: two break-glass uses of one user at once
(only one passes: the check and the database constraint), and a ratification racing a
rejection (one verdict wins, the other is refused)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from accessportal.kernel.errors import BreakGlassUnratified, NotAwaitingRatification
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from tests.concurrency import run_together
from tests.policies import BREAK_GLASS

pytestmark = pytest.mark.postgres


@pytest.fixture
def glass(transactional_db, base_policy, apply_yaml):
    apply_yaml(BREAK_GLASS)


def _user(name: str):
    """A fresh user object, fetched by the calling thread on its own connection."""
    return get_user_model().objects.get(username=name)


def _open(reason: str):
    return lambda: break_glass_open(requester=_user("alice"), roles=["db-admin"], reason=reason)


def test_two_break_glass_uses_at_once_only_one_passes(glass):
    outcomes = run_together(_open("INC-1"), _open("INC-2"))
    assert sum(o.ok for o in outcomes) == 1
    (refused,) = [o.error for o in outcomes if not o.ok]
    assert isinstance(refused, BreakGlassUnratified)
    assert AccessRequest.objects.count() == 1 and BreakGlass.objects.count() == 1


def test_ratify_racing_reject_ends_in_one_verdict(glass):
    request = _open("INC-3")()

    def decide(reviewer: str, verdict: str):
        return lambda: break_glass_decide(
            request_id=request.id, reviewer=_user(reviewer), verdict=verdict, reason=verdict
        )

    outcomes = run_together(decide("bob", "ratify"), decide("carol", "reject"))
    assert sum(o.ok for o in outcomes) == 1
    (refused,) = [o.error for o in outcomes if not o.ok]
    assert isinstance(refused, NotAwaitingRatification)
    glass = BreakGlass.objects.get()
    assert glass.state in (Ratification.RATIFIED, Ratification.REJECTED)
