"""The unused-grants gauge: grants approved and never used, open now or ended recently."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.metrics.support import value


def approve(requester, reviewer, role):
    request = access_request_create(
        requester=requester, roles=[role], reason="INC-1", max_duration="1h"
    )
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


@pytest.mark.django_db
def test_unused_grants_are_gauged_until_used_or_out_of_the_window(
    scrape, requester, reviewer, settings
):
    settings.METRICS_DB_CACHE = 0
    cache.delete("accessportal:metrics:db:1")
    approve(requester, reviewer, "db-admin")
    approve(requester, reviewer, "dev-admin")
    text = scrape()
    assert value(text, "accessportal_grants_unused", state="active") == 2
    assert value(text, "accessportal_grants_unused", state="ended") == 0
    assert access_check(user=requester, role="db-admin").allowed  # a use
    assert value(scrape(), "accessportal_grants_unused", state="active") == 1
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        text = scrape()
        assert value(text, "accessportal_grants_unused", state="active") == 0
        assert value(text, "accessportal_grants_unused", state="ended") == 1
    with time_machine.travel(timezone.now() + timedelta(days=settings.USAGE_UNUSED_WINDOW + 1)):
        assert value(scrape(), "accessportal_grants_unused", state="ended") == 0
