"""Home: standing roles, my access with its countdown, ending it early, pending requests,
and for reviewers what waits for them."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

HOME = reverse("portal:home")


def test_home_shows_standing_roles_and_an_empty_state(alice_client):
    page = alice_client.get(HOME).content.decode()
    assert "Standing roles" in page and ">engineer<" in page
    assert "You have no elevated access right now." in page
    assert "Nothing waiting for review." in page
    assert "Review inbox" not in page and "wait for your review" not in page


def test_active_grant_shows_a_live_countdown_and_its_end(alice_client, approved_request, settings):
    settings.SESSION_COOKIE_AGE = 30 * 24 * 3600  # the clock jumps past the idle timeout
    alice_client.force_login(approved_request.user)
    with time_machine.travel(approved_request.access_starts + timedelta(minutes=47), tick=False):
        page = alice_client.get(HOME).content.decode()
    assert "ends in 1h 13m" in page
    assert f'datetime="{approved_request.access_expires.isoformat()}"' in page
    assert "data-countdown" in page and "End access now" in page
    assert "Extend" in page and reverse("portal:request-extend", args=[approved_request.id]) in page


def test_access_starting_later_says_when(alice_client, requester, reviewer):
    request = access_request_create(
        requester=requester,
        roles=["dev-admin"],
        assume_start_time=timezone.now() + timedelta(hours=3),
    )
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    page = alice_client.get(HOME).content.decode()
    assert "starts in 3h" in page
    assert "is-upcoming" in page


def test_ended_access_is_not_shown(alice_client, approved_request, settings):
    settings.SESSION_COOKIE_AGE = 30 * 24 * 3600  # the clock jumps past the idle timeout
    alice_client.force_login(approved_request.user)
    with time_machine.travel(approved_request.access_expires, tick=False):
        page = alice_client.get(HOME).content.decode()
    assert "You have no elevated access right now." in page


def test_access_panel_fragment_for_htmx_polling(alice_client, approved_request):
    response = alice_client.get(reverse("portal:access-panel"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<section id="access-panel"')
    assert "<html" not in body and "ends in" in body and 'hx-trigger="every 60s, refresh"' in body
    assert "HX-Request" in response["Vary"]
    assert alice_client.get(reverse("portal:access-panel"))["Location"] == HOME


def test_end_access_early_from_home(alice_client, requester, approved_request):
    url = reverse("portal:request-end", args=[approved_request.id])
    response = alice_client.post(url, {"reason": "", "next": HOME}, follow=True)
    assert response.redirect_chain[-1][0] == HOME
    page = response.content.decode()
    assert "Access ended: db-admin is no longer yours." in page
    assert "You have no elevated access right now." in page
    approved_request.refresh_from_db()
    assert approved_request.state == RequestState.REVOKED
    assert approved_request.revoke_reason == "ended early by the requester"
    assert Grant.objects.get(request=approved_request).revoked_at is not None
    assert not access_check(user=requester, role="db-admin").allowed
    assert AuditEvent.objects.filter(action="request.revoked", actor_name="alice").exists()


def test_ending_access_twice_is_told_not_crashed(alice_client, approved_request):
    url = reverse("portal:request-end", args=[approved_request.id])
    alice_client.post(url, {"reason": "done"})
    response = alice_client.post(url, {"reason": "again"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Only approved access can be revoked; this request is revoked" in page


def test_nobody_else_can_end_my_access_or_even_see_it(mallory_client, approved_request):
    url = reverse("portal:request-end", args=[approved_request.id])
    assert mallory_client.post(url, {"reason": "x"}).status_code == 404
    approved_request.refresh_from_db()
    assert approved_request.state == RequestState.APPROVED


def test_pending_requests_listed(alice_client, pending_request):
    page = alice_client.get(HOME).content.decode()
    assert "Pending requests" in page and "db-admin" in page
    assert reverse("portal:request-detail", args=[pending_request.id]) in page


def test_reviewer_sees_how_many_wait_and_where(bob_client, pending_request):
    page = bob_client.get(HOME).content.decode()
    assert "1 request waits for your review" in page
    assert f'href="{reverse("portal:inbox")}"' in page
    assert 'aria-label="1 waiting"' in page  # the navigation badge


def test_reviewer_with_an_empty_queue_still_finds_the_inbox(bob_client):
    page = bob_client.get(HOME).content.decode()
    assert "Your inbox is clear." in page and "wait for your review" not in page


def test_home_query_budget(alice_client, approved_request, django_assert_max_num_queries):
    # 16: one query more for the "Recently ended" list (a fixed cost, revoked_by joined);
    # 17: what "End early" also ends (`grants.continuations_many`: one query per
    # generation of extensions, for every access at once); 18: the navigation's count of
    # access review items waiting (one query, every page).
    with django_assert_max_num_queries(18):
        assert alice_client.get(HOME).status_code == 200


def test_home_tells_how_to_use_access_elsewhere(alice_client):
    page = alice_client.get(HOME).content.decode()
    assert "Use your access elsewhere" in page
    assert "accessctl credentials" in page and "/api/v1/credentials/" in page
    assert 'href="/.well-known/jwks.json"' in page
