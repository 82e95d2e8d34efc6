"""The requester's access cards say how far provisioning got in each target, with the error
in plain words when one failed, and ended access still being removed says so."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from requests_app.services.grants import access_request_revoke
from tests.requests_app.provisioning.conftest import db_admin_provisioning

HOME = reverse("portal:home")
PANEL = reverse("portal:access-panel")


@pytest.fixture
def two_groups(base_policy, apply_yaml, groups):
    ok, down = groups("ok"), groups("down")
    apply_yaml(db_admin_provisioning(ok.yaml(), down.yaml()))
    return ok, down


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_access_card_shows_each_target_and_a_failure_in_words(
    alice_client, two_groups, approve, work
):
    ok, down = two_groups
    down.mode("fail")
    approve("db-admin")
    work()
    page = text_of(alice_client.get(HOME).content.decode())
    assert "Provisioned: group down (files) failed, retrying: group down refused" in page
    assert "group ok (files) applied" in page


def test_pending_target_says_being_applied(alice_client, two_groups, approve):
    approve("db-admin")  # no worker has run yet
    page = text_of(alice_client.get(HOME).content.decode())
    assert "group ok (files) being applied" in page


def test_revoked_access_still_being_removed_says_so_not_ended(
    alice_client, two_groups, approve, work, requester
):
    ok, down = two_groups
    request = approve("db-admin")
    work()
    down.mode("fail")
    access_request_revoke(request_id=request.id, actor=requester, reason="done")
    work()
    html = alice_client.get(PANEL, HTTP_HX_REQUEST="true").content.decode()
    page = text_of(html)
    assert "Ended, still being removed" in page
    assert "Your access to db-admin has ended; it is being removed from group down (files)" in page
    assert "the last attempt failed: group down refused" in page
    assert "group ok" not in page.split("still being removed", 1)[1]  # removed: not listed
    assert "You have no elevated access right now." not in page
    # Accessible: a labelled list, and the sentence is a status region.
    assert 'aria-labelledby="removing-title"' in html and 'role="status"' in html
    down.mode("")
    with time_machine.travel(timezone.now() + timedelta(hours=2)):  # past the retry backoff
        work()
    page = text_of(alice_client.get(HOME).content.decode())
    assert "still being removed" not in page
    assert "You have no elevated access right now." in page


def test_access_without_targets_has_no_provisioning_line(alice_client, base_policy, approve):
    approve("dev-admin")
    page = alice_client.get(HOME).content.decode()
    assert "Provisioned:" not in page and "being removed" not in page


def test_home_costs_the_same_queries_for_one_access_card_or_five(
    alice_client, two_groups, approve, work, requester, django_assert_max_num_queries
):
    def measure() -> int:
        with django_assert_max_num_queries(60) as captured:
            assert alice_client.get(HOME).status_code == 200
        return len(captured)

    ok, down = two_groups
    down.mode("fail")
    ended = approve("db-admin")
    work()
    access_request_revoke(request_id=ended.id, actor=requester, reason="done")
    approve("db-admin")
    work()
    one = measure()
    for _ in range(4):
        approve("db-admin")
        finished = approve("db-admin")
        access_request_revoke(request_id=finished.id, actor=requester, reason="done")
    work()
    assert measure() == one
