"""`request.pending_for` in a review rule: a wider group may review a request only once it
has waited long enough. Decided at review time; the wider group sees the request from the
start, and its work queue lists it only from the moment it may review."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.errors import NotAllowed
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.selectors import eligible_reviewers, may_review, requests_needing_review
from requests_app.services.access_requests import access_request_create
from requests_app.services.escalation import access_requests_remind_due
from requests_app.services.notifications import outbox_route
from requests_app.services.reviews import review_submit
from requests_app.services.visibility import request_permissions_resync
from tests.policies import WINDOWED_REVIEWERS, engineer_requests
from tests.requests_app.clock import T0, H, S, at


@pytest.fixture
def gina(base_policy, apply_yaml, user):
    apply_yaml(WINDOWED_REVIEWERS)
    return user("gina")


@pytest.fixture
def request_at_t0(gina, requester):
    with at(T0):
        return access_request_create(requester=requester, roles=["db-admin"], reason="INC-9")


def _review(request, reviewer):
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


def test_the_wider_group_is_refused_before_the_threshold(request_at_t0, gina):
    with at(T0 + 2 * H), pytest.raises(NotAllowed):
        _review(request_at_t0, gina)


def test_the_wider_group_may_review_after_the_threshold(request_at_t0, gina):
    with at(T0 + 2 * H + S):
        assert _review(request_at_t0, gina).state == "APPROVED"


def test_it_sees_the_request_at_once_but_its_queue_lists_it_only_once_it_may_review(
    request_at_t0, gina
):
    row = GroupPerm.objects.get(
        content_object=request_at_t0,
        group__reviewer_profile__isnull=False,
        permission__codename="review_accessrequest",
        group__user=gina,
    )
    assert T0 + 2 * H < row.review_opens <= T0 + 2 * H + S
    with at(T0 + H):
        assert AccessRequest.objects.visible_to(gina).filter(pk=request_at_t0.pk).exists()
        assert not requests_needing_review(gina).exists()
        assert gina.username not in {u.username for u in eligible_reviewers(request_at_t0)}
    with at(T0 + 2 * H + S):
        assert list(requests_needing_review(gina)) == [request_at_t0]
        assert gina.username in {u.username for u in eligible_reviewers(request_at_t0)}


def test_has_perm_to_review_follows_the_window_as_may_review_does(request_at_t0, gina, user):
    hank = user("hank")
    for moment in (T0 + H - S, T0 + H, T0 + 2 * H, T0 + 2 * H + S):
        with at(moment):
            for person in (gina, hank):
                person = type(person).objects.get(pk=person.pk)  # no cached permissions
                allowed = person.has_perm("requests_app.review_accessrequest", request_at_t0)
                assert allowed is may_review(request_at_t0, person), (person.username, moment)
    with at(T0 + H):
        assert not gina.has_perm("requests_app.review_accessrequest", request_at_t0)
    with at(T0 + 2 * H + S):
        assert gina.has_perm("requests_app.review_accessrequest", request_at_t0)


def _sees(person, request) -> bool:
    return AccessRequest.objects.visible_to(person).filter(pk=request.pk).exists()


def test_a_request_resolved_before_the_window_opened_is_no_longer_shown_to_that_group(
    request_at_t0, gina, reviewer, user
):
    hank = user("hank")  # first-hour: could review from the start
    with at(T0 + 30 * 60 * S):
        _review(request_at_t0, reviewer)
    assert not _sees(gina, request_at_t0)  # sre's window (after 2h) never opened
    assert _sees(hank, request_at_t0) and _sees(reviewer, request_at_t0)


def test_a_request_resolved_after_the_window_opened_stays_shown_to_that_group(
    request_at_t0, gina, reviewer
):
    with at(T0 + 3 * H):
        _review(request_at_t0, reviewer)
    assert _sees(gina, request_at_t0)


def test_the_api_shows_the_same(request_at_t0, gina):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=gina).key}")
    url = f"/api/v1/requests/{request_at_t0.id}/"
    with at(T0 + H):
        assert client.get(url).status_code == 200
        assert client.get("/api/v1/requests/?scope=needs_review").json()["results"] == []
        refused = client.post(
            f"{url}reviews/", {"state": "APPROVED", "reason": "ok"}, format="json"
        )
        assert refused.status_code == 403
    with at(T0 + 2 * H + S):
        listed = client.get("/api/v1/requests/?scope=needs_review").json()["results"]
        assert [r["id"] for r in listed] == [str(request_at_t0.id)]
        approved = client.post(
            f"{url}reviews/", {"state": "APPROVED", "reason": "ok"}, format="json"
        )
        assert approved.status_code == 201


def test_a_group_whose_window_closes_reviews_only_within_it(request_at_t0, user):
    hank = user("hank")
    with at(T0 + H - S):
        assert list(requests_needing_review(hank)) == [request_at_t0]
    with at(T0 + H):
        with pytest.raises(NotAllowed):
            _review(request_at_t0, hank)
        # The periodic resync takes the rows of a window that has closed away.
        request_permissions_resync(request_ids=[request_at_t0.id])
        assert not AccessRequest.objects.visible_to(hank).filter(pk=request_at_t0.pk).exists()


def test_a_group_whose_rule_cannot_hold_in_the_pending_time_gets_no_rows(gina, requester):
    with at(T0):
        request = access_request_create(
            requester=requester, roles=["db-admin"], reason="INC-9", request_ttl="1h"
        )
        assert not AccessRequest.objects.visible_to(gina).filter(pk=request.pk).exists()


def test_an_escalation_tier_at_the_threshold_reaches_the_wider_group(apply_yaml, gina, requester):
    apply_yaml(engineer_requests("reminders: [{after: 3h}]"))
    with at(T0):
        request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
    with at(T0 + 3 * H):
        assert access_requests_remind_due() == 1
        message = OutboxMessage.objects.get(request=request, event="request.reminder")
        outbox_route(message_id=message.pk)
    message.refresh_from_db()
    assert "gina" in message.recipients and "hank" not in message.recipients
