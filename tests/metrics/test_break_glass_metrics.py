"""Break-glass on /metrics: uses and verdicts counted, unratified uses gauged, the timed-out
ones apart (they need no worker: the gauge compares the deadline with the clock)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from requests_app.services.break_glass import break_glass_decide, break_glass_open
from tests.metrics.support import value
from tests.policies import BREAK_GLASS


@pytest.fixture
def glass(base_policy, apply_yaml):
    apply_yaml(BREAK_GLASS)


@pytest.mark.django_db(transaction=True)  # the counters count on commit
def test_uses_verdicts_and_timeouts_are_on_metrics(glass, scrape, requester, reviewer):
    before = scrape()
    used = value(before, "accessportal_break_glass_total", outcome="used")
    ratified = value(before, "accessportal_break_glass_total", outcome="ratified")
    first = break_glass_open(requester=requester, roles=["db-admin"], reason="INC-1")
    text = scrape()
    assert value(text, "accessportal_break_glass_total", outcome="used") == used + 1
    assert value(text, "accessportal_break_glass_unratified", state="awaiting") == 1
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert value(scrape(), "accessportal_break_glass_unratified", state="timed_out") == 1
    break_glass_decide(request_id=first.id, reviewer=reviewer, verdict="ratify", reason="ok")
    text = scrape()
    assert value(text, "accessportal_break_glass_total", outcome="ratified") == ratified + 1
    assert value(text, "accessportal_break_glass_unratified", state="awaiting") == 0
