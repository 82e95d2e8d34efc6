"""The review inbox: the same queue as the admin desk, approve or deny with a reason."""

from __future__ import annotations

import html

from django.test import Client
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from requests_app.models import Review
from requests_app.services.access_requests import access_request_create
from tests.policies import engineer_requests

INBOX = reverse("portal:inbox")


def text(response) -> str:
    return html.unescape(response.content.decode())


def review_url(request) -> str:
    return reverse("portal:request-review", args=[request.id])


def test_inbox_lists_what_waits_for_me(bob_client, pending_request, reviewer):
    assert not reviewer.is_staff  # a reviewer without the admin desk
    page = text(bob_client.get(INBOX))
    assert "1 request waits for your review" in page
    assert "alice" in page and "INC-42 disk full" in page and "db-admin" in page
    assert f'action="{review_url(pending_request)}"' in page
    assert page.count('name="state" value="APPROVED"') == 1


def test_inbox_is_empty_for_those_who_review_nothing(mallory_client, alice_client, pending_request):
    assert "Nothing waits for your review." in text(mallory_client.get(INBOX))
    assert "Nothing waits for your review." in text(alice_client.get(INBOX))  # own request


def test_approve_from_the_inbox(bob_client, pending_request):
    response = bob_client.post(
        review_url(pending_request),
        {"state": "APPROVED", "reason": "go ahead", "next": INBOX},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == INBOX
    page = text(response)
    assert "You approved alice's request. It is approved: the access starts now." in page
    assert "Nothing waits for your review." in page and "You approved" in page
    pending_request.refresh_from_db()
    assert pending_request.state == RequestState.APPROVED
    assert Review.objects.get().reason == "go ahead"


def test_deny_with_a_reason(bob_client, pending_request):
    bob_client.post(review_url(pending_request), {"state": "DENIED", "reason": "use the runbook"})
    pending_request.refresh_from_db()
    assert pending_request.state == RequestState.DENIED
    assert pending_request.resolve_reason == "use the runbook"


def test_review_that_needs_more_approvals_says_so(bob_client, requester, apply_yaml):
    apply_yaml(engineer_requests("thresholds: [{approve: 2, deny: 1}]"))
    request = access_request_create(requester=requester, roles=["db-admin"])
    response = bob_client.post(review_url(request), {"state": "APPROVED"}, follow=True)
    assert "It waits for more reviews." in text(response)


def test_a_second_review_is_refused_on_the_page(bob_client, requester, apply_yaml):
    apply_yaml(engineer_requests("thresholds: [{approve: 2, deny: 2}]"))
    request = access_request_create(requester=requester, roles=["db-admin"])
    bob_client.post(review_url(request), {"state": "APPROVED"})
    response = bob_client.post(review_url(request), {"state": "DENIED", "reason": "changed"})
    assert response.status_code == 409
    assert "You have already reviewed this request" in text(response)
    assert Review.objects.count() == 1


def test_reviewing_a_request_no_longer_pending_is_refused(bob_client, pending_request, user):
    Client().force_login(user("carol"))
    carol = Client()
    carol.force_login(user("carol"))
    carol.post(review_url(pending_request), {"state": "DENIED"})
    response = bob_client.post(review_url(pending_request), {"state": "APPROVED"})
    assert response.status_code == 409
    assert "This request is denied, no longer pending" in text(response)


def test_nobody_reviews_their_own_request(alice_client, pending_request):
    response = alice_client.post(review_url(pending_request), {"state": "APPROVED"})
    assert response.status_code == 403
    assert "Nobody may review their own request" in text(response)
    pending_request.refresh_from_db()
    assert pending_request.state == RequestState.PENDING


def test_someone_who_may_see_but_not_review_is_refused(pending_request, auditor):
    client = Client()
    client.force_login(auditor)
    response = client.post(review_url(pending_request), {"state": "APPROVED"})
    assert response.status_code == 403
    assert "Your roles do not allow you to review this request" in text(response)


def test_requests_i_may_not_see_are_404_even_to_review(mallory_client, pending_request):
    response = mallory_client.post(review_url(pending_request), {"state": "APPROVED"})
    assert response.status_code == 404
    assert not Review.objects.exists()


def test_a_review_without_a_verdict_is_a_form_error(bob_client, pending_request):
    response = bob_client.post(review_url(pending_request), {"state": "MAYBE", "reason": "hmm"})
    assert response.status_code == 400
    assert "Select a valid choice" in text(response) and "hmm</textarea>" in text(response)


def test_review_from_the_request_page(bob_client, pending_request):
    page = text(bob_client.get(reverse("portal:request-detail", args=[pending_request.id])))
    assert 'id="review"' in page and "Approve" in page
    response = bob_client.post(review_url(pending_request), {"state": "APPROVED"})
    assert response["Location"] == reverse("portal:request-detail", args=[pending_request.id])


def test_next_cannot_send_reviewers_off_site(bob_client, pending_request):
    response = bob_client.post(
        review_url(pending_request), {"state": "APPROVED", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("portal:request-detail", args=[pending_request.id])


def test_inbox_query_budget(bob_client, requester, django_assert_max_num_queries):
    for _ in range(5):
        access_request_create(requester=requester, roles=["db-admin"])
    # 20: one of them the break-glass ratification queue (a fixed query, however many);
    # one the navigation's count of access review items waiting (every page); four the
    # requesters' grants approved and never used, restricted to requests bob may see (the
    # grants, and the permission lookups `visible_to` makes once per page); two the
    # reviewer's review rows, read first by each of the page's two reads of the review
    # queue (`requests_needing_review`). Fixed, however many items.
    with django_assert_max_num_queries(20):
        assert bob_client.get(INBOX).status_code == 200
