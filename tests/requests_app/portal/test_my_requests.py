"""My requests: history with filters, a request's page, withdrawing; others' requests 404."""

from __future__ import annotations

import html
import uuid

from django.contrib.auth import get_user_model
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import access_request_withdraw
from requests_app.services.reviews import review_submit
from tests.policies import engineer_requests

LIST = reverse("portal:request-list")


def text(response) -> str:
    return html.unescape(response.content.decode())


def detail(request) -> str:
    return reverse("portal:request-detail", args=[request.id])


def test_history_lists_my_requests_with_state_newest_first(alice_client, requester, apply_yaml):
    apply_yaml("kind: user\nname: dan\nroles: [engineer]\n")
    first = access_request_create(requester=requester, roles=["db-admin"])
    access_request_withdraw(request_id=first.id, actor=requester)
    access_request_create(requester=requester, resources=["node/db-prod-1"])
    dan = get_user_model().objects.get(username="dan")
    access_request_create(requester=dan, roles=["dev-admin"])  # not mine
    page = text(alice_client.get(LIST))
    assert page.count('class="badge state-') == 2 and "dev-admin" not in page
    rows = page.split("<tbody>")[1]
    assert rows.index("node/db-prod-1") < rows.index(">Withdrawn<")


def test_history_filters_by_state_and_item(alice_client, requester):
    withdrawn = access_request_create(requester=requester, roles=["db-admin"])
    access_request_withdraw(request_id=withdrawn.id, actor=requester)
    access_request_create(requester=requester, roles=["dev-admin"])
    page = text(alice_client.get(LIST, {"state": "PENDING"}))
    assert "dev-admin" in page and "db-admin" not in page.split("<tbody>")[1]
    page = text(alice_client.get(LIST, {"q": "db-ad"}))
    assert "Withdrawn" in page and "dev-admin" not in page.split("<tbody>")[1]
    page = text(alice_client.get(LIST, {"state": "DENIED"}))
    assert "No request matches these filters." in page
    assert alice_client.get(LIST, {"state": "BOGUS"}).status_code == 200


def test_empty_history_invites_a_first_request(mallory_client):
    assert "You have not asked for anything yet." in text(mallory_client.get(LIST))


def test_history_query_budget(alice_client, requester, django_assert_max_num_queries):
    for _ in range(5):
        access_request_create(requester=requester, roles=["db-admin"])
    with django_assert_max_num_queries(13):  # 3 of them: the sliding session save
        assert alice_client.get(LIST).status_code == 200


def test_detail_shows_reviews_progress_and_the_window(alice_client, requester, apply_yaml, user):
    apply_yaml(engineer_requests("thresholds: [{name: two-person, approve: 2, deny: 1}]"))
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="lgtm")
    page = text(alice_client.get(detail(request)))
    assert "Pending" in page and "INC-1" in page
    assert "lgtm" in page and "bob" in page
    assert "two-person" in page and "1 of 2 approvals" in page and "0 of 1 denial" in page
    assert "Who can review:</strong> bob, carol" in page
    assert "Withdraw request" in page
    review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="ok")
    page = text(alice_client.get(detail(request)))
    assert "Approved" in page and "2 of 2 approvals" in page
    assert "Ends in 8h" in page and "End access now" in page and "Extend this access" in page


def test_requests_i_may_not_see_are_404(mallory_client, pending_request):
    assert mallory_client.get(detail(pending_request)).status_code == 404
    unknown = reverse("portal:request-detail", args=[uuid.uuid4()])
    assert mallory_client.get(unknown).status_code == 404
    url = reverse("portal:request-withdraw", args=[pending_request.id])
    assert mallory_client.post(url).status_code == 404


def test_reviewers_and_auditors_see_the_request(bob_client, pending_request, auditor):
    assert bob_client.get(detail(pending_request)).status_code == 200
    bob_client.force_login(auditor)
    page = text(bob_client.get(detail(pending_request)))
    # Sees it, may not review it.
    assert "Asked by <strong>alice</strong>" in page and "Approve" not in page


def test_withdraw_a_pending_request(alice_client, pending_request):
    url = reverse("portal:request-withdraw", args=[pending_request.id])
    response = alice_client.post(url, {"reason": "fixed it myself"}, follow=True)
    assert "Request withdrawn." in text(response)
    pending_request.refresh_from_db()
    assert pending_request.state == RequestState.WITHDRAWN
    assert pending_request.resolve_reason == "fixed it myself"


def test_withdrawing_twice_is_told_on_the_page(alice_client, pending_request):
    url = reverse("portal:request-withdraw", args=[pending_request.id])
    alice_client.post(url)
    response = alice_client.post(url)
    assert response.status_code == 409
    assert "This request is withdrawn, no longer pending" in text(response)


def test_only_the_requester_may_withdraw(bob_client, pending_request):
    url = reverse("portal:request-withdraw", args=[pending_request.id])
    response = bob_client.post(url)
    assert response.status_code == 403
    assert "Only the requester may withdraw a request" in text(response)
    pending_request.refresh_from_db()
    assert pending_request.state == RequestState.PENDING


def test_reviewer_ending_access_must_give_a_reason(bob_client, approved_request):
    url = reverse("portal:request-end", args=[approved_request.id])
    response = bob_client.post(url, {"reason": ""})
    assert response.status_code == 422
    assert "A reason is required to revoke access" in text(response)
    response = bob_client.post(url, {"reason": "security incident"}, follow=True)
    approved_request.refresh_from_db()
    assert approved_request.state == RequestState.REVOKED
    assert "security incident" in text(response)
