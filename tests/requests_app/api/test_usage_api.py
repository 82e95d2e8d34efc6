"""Usage over the API: the HTTP check records use; reviewers see the requester's grants
approved and never used on the next request; the grants' list shows first and last use."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from requests_app.models import Grant
from requests_app.services.access_requests import access_request_create
from tests.requests_app.api.conftest import url

pytestmark = pytest.mark.django_db


def test_the_http_check_records_use_and_a_denied_one_does_not(api, approved):
    assert api("ivy").get(url("access/check/?user=alice&role=dev-admin")).json()["allowed"] is False
    assert Grant.objects.get(request=approved).first_used is None
    answer = api("ivy").get(url("access/check/?user=alice&role=db-admin")).json()
    assert answer["allowed"] is True
    grant = Grant.objects.get(request=approved)
    assert grant.first_used is not None and grant.last_used == grant.first_used


def test_the_next_request_shows_reviewers_the_grant_never_used(api, approved, requester):
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        following = access_request_create(requester=requester, roles=["db-admin"], reason="INC-9")
        shown = api("bob").get(url(f"requests/{following.id}/")).json()
    [unused] = shown["requester_unused_grants"]
    grant = Grant.objects.get(request=approved)
    assert unused["id"] == grant.id and unused["role"] == "db-admin"
    assert unused["request"] == str(approved.id)
    # The approved request's own grant is not listed on itself.
    assert api("bob").get(url(f"requests/{approved.id}/")).json()["requester_unused_grants"] == []


def test_a_self_check_records_no_use(api, approved):
    # The requester asking about themself, implicitly or by name: allowed, but not a use
    # (else asking would mark every grant "used" and hide standing-by access).
    assert api("alice").get(url("access/check/?role=db-admin")).json()["allowed"] is True
    assert api("alice").get(url("access/check/?user=alice&resource=db/billing")).json()["allowed"]
    grant = Grant.objects.get(request=approved)
    assert grant.first_used is None and grant.last_used is None
    # The resource side asking about her is.
    api("ivy").get(url("access/check/?user=alice&role=db-admin"))
    assert Grant.objects.get(request=approved).first_used is not None


def test_a_used_grant_is_not_shown(api, approved, requester):
    api("ivy").get(url("access/check/?user=alice&role=db-admin"))
    following = access_request_create(requester=requester, roles=["dev-admin"], reason="INC-9")
    assert api("bob").get(url(f"requests/{following.id}/")).json()["requester_unused_grants"] == []


def test_grants_show_first_and_last_use(api, approved):
    [row] = api("sam").get(url("grants/?user=alice")).json()["results"]
    assert row["first_used"] is None and row["last_used"] is None
    api("ivy").get(url("access/check/?user=alice&resource=db/billing"))
    [row] = api("sam").get(url("grants/?user=alice")).json()["results"]
    assert row["first_used"] is not None and row["last_used"] == row["first_used"]
