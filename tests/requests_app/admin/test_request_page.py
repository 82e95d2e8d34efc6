"""The request page: everything a reviewer needs, and Approve / Deny / Revoke through the
services, with every refusal shown as a message and an HTTP status, never a 500."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant, Review
from requests_app.services.reviews import review_submit
from tests.policies import CAROL_REVIEWS_DEV_ADMIN_ONLY


def page_url(request) -> str:
    return reverse("admin:requests_app_accessrequest_change", args=[request.pk])


def review_url(request) -> str:
    return reverse("admin:requests_app_accessrequest_review", args=[request.pk])


def revoke_url(request) -> str:
    return reverse("admin:requests_app_accessrequest_revoke", args=[request.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_page_shows_what_a_reviewer_needs_to_decide(
    login, make_request, two_person, user, django_assert_max_num_queries
):
    earlier = make_request(["dev-admin"], reason="INC-1: earlier request")
    request = make_request(["db-admin"], reason="INC-42: restore billing", max_duration="20h")
    review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="seen")
    client = login("bob")
    with django_assert_max_num_queries(30):
        response = client.get(page_url(request))
    assert response.status_code == 200
    page = response.content.decode()
    # the reason, and the policy's prompt
    assert "INC-42: restore billing" in page and "Ticket number and why" in page
    # the requester's standing roles and recent history
    assert ">engineer<" in page
    assert "INC-1: earlier request" not in page  # history lists items and states, not reasons
    assert page_url(earlier) in page
    # thresholds and reviews so far
    assert "two-person" in page and "1 of 2" in page
    assert "carol" in page and "seen" in page
    # what approval would give, for how long
    assert "db-admin" in page and "reaches" in page and "db labelled env: prod" in page
    assert "8h" in page and "asked for 20h" in page
    # the audit trail of this request
    assert "request.created" in page and "review.submitted" in page
    # and the decision form
    assert 'name="decision" value="APPROVED"' in page and 'name="decision" value="DENIED"' in page


def test_page_is_404_for_requests_the_user_cannot_see(login, make_request):
    request = make_request()
    client = login("mallory")
    assert client.get(page_url(request)).status_code == 404
    assert client.post(review_url(request), {"decision": "APPROVED"}).status_code == 404
    assert client.post(revoke_url(request), {"reason": "x"}).status_code == 404
    missing = reverse("admin:requests_app_accessrequest_change", args=[uuid.uuid4()])
    assert client.get(missing).status_code == 404
    garbage = reverse("admin:requests_app_accessrequest_change", args=["not-a-uuid"])
    assert client.get(garbage).status_code == 404
    assert not Review.objects.exists()


def test_history_lists_only_requests_the_viewer_may_see(login, make_request, apply_yaml):
    apply_yaml(CAROL_REVIEWS_DEV_ADMIN_ONLY)
    hidden = make_request(["db-admin"], reason="INC-9")
    shown = make_request(["dev-admin"], reason="INC-10")
    other = make_request(["dev-admin"], reason="INC-11")
    page = login("carol").get(page_url(shown)).content.decode()
    assert page_url(other) in page
    assert page_url(hidden) not in page


def test_approve_with_a_reason_goes_through_the_service(login, make_request):
    request = make_request()
    client = login("bob")
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "INC checked"})
    assert response.status_code == 302 and response.url == page_url(request)
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    review = Review.objects.get(request=request)
    assert (review.reviewer.username, review.reason) == ("bob", "INC checked")
    assert Grant.objects.filter(request=request, role="db-admin").exists()
    event = AuditEvent.objects.filter(action="review.submitted").last()
    assert event.actor_name == "bob" and event.target_id == str(request.pk)
    assert any("The request is approved" in m for m in messages_of(response))
    page = client.get(page_url(request)).content.decode()
    assert 'data-state="APPROVED"' in page


def test_deny_goes_through_the_service(login, make_request):
    request = make_request()
    response = login("bob").post(review_url(request), {"decision": "DENIED", "reason": "no ticket"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == RequestState.DENIED
    assert request.resolve_reason == "no ticket"
    assert not Grant.objects.filter(request=request).exists()


def test_reason_is_required_when_the_policy_snapshot_says_so(login, make_request, two_person):
    request = make_request()
    assert request.policy["reason_required"] is True
    client = login("bob")
    page = client.get(page_url(request)).content.decode()
    assert 'class="ap-required">required' in page
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "  "})
    assert response.status_code == 400
    assert "A reason is required for this request." in response.content.decode()
    assert not Review.objects.exists()


def test_reason_is_optional_when_the_policy_does_not_ask(login, make_request):
    request = make_request()
    assert not request.policy["reason_required"]
    response = login("bob").post(review_url(request), {"decision": "APPROVED", "reason": ""})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED


def test_unknown_decision_is_a_400(login, make_request):
    request = make_request()
    response = login("bob").post(review_url(request), {"decision": "MAYBE", "reason": "x"})
    assert response.status_code == 400
    assert not Review.objects.exists()


def test_review_url_accepts_only_post(login, make_request):
    request = make_request()
    assert login("bob").get(review_url(request)).status_code == 405


def test_approving_own_request_is_refused_with_a_message(login, make_request, apply_yaml):
    apply_yaml("kind: user\nname: alice\nroles: [engineer, reviewer]\n")
    request = make_request()
    client = login("alice")
    page = client.get(page_url(request)).content.decode()
    assert 'value="APPROVED"' not in page
    assert "This is your own request" in page
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "me"})
    assert response.status_code == 403
    assert "Not reviewed: nobody may review their own request." in messages_of(response)
    request.refresh_from_db()
    assert request.state == RequestState.PENDING and not Review.objects.exists()


def test_superuser_cannot_approve_own_request(root_client, admin, apply_yaml, make_request):
    apply_yaml("kind: user\nname: root\nroles: [engineer, reviewer]\n")
    request = make_request(by=admin)
    response = root_client.post(review_url(request), {"decision": "APPROVED", "reason": "me"})
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.state == RequestState.PENDING


def test_user_who_sees_but_may_not_review_is_refused(login, make_request):
    request = make_request()
    client = login("erin")  # an auditor: sees every request, reviews none
    page = client.get(page_url(request)).content.decode()
    assert "do not allow you to review" in page and 'value="APPROVED"' not in page
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "x"})
    assert response.status_code == 403
    assert "Not reviewed: your roles do not allow you to review this request." in messages_of(
        response
    )
    assert not Review.objects.exists()


def test_second_reviewer_completes_a_two_person_approval(login, make_request, two_person):
    request = make_request()
    first = login("bob").post(review_url(request), {"decision": "APPROVED", "reason": "one"})
    assert any("Still pending: two-person: 1 of 2 approvals" in m for m in messages_of(first))
    request.refresh_from_db()
    assert request.state == RequestState.PENDING
    second = login("carol").post(review_url(request), {"decision": "APPROVED", "reason": "two"})
    assert any("The request is approved" in m for m in messages_of(second))
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED


def test_second_review_by_the_same_reviewer_is_a_409(login, make_request, two_person):
    request = make_request()
    client = login("bob")
    client.post(review_url(request), {"decision": "APPROVED", "reason": "one"})
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "again"})
    assert response.status_code == 409
    assert "Not reviewed: you have already reviewed this request." in messages_of(response)
    assert Review.objects.filter(request=request).count() == 1


def test_review_of_a_resolved_request_is_a_409(login, make_request, user):
    request = make_request()
    review_submit(request_id=request.id, reviewer=user("carol"), state="DENIED", reason="no")
    response = login("bob").post(review_url(request), {"decision": "APPROVED", "reason": "ok"})
    assert response.status_code == 409
    assert any("no longer pending" in m for m in messages_of(response))


def test_revoke_from_the_request_page_needs_a_reason(login, make_request, user):
    request = make_request()
    review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="ok")
    client = login("bob")
    assert "End this access early" in client.get(page_url(request)).content.decode()
    refused = client.post(revoke_url(request), {"reason": ""})
    assert refused.status_code == 400
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    response = client.post(revoke_url(request), {"reason": "incident over"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED and request.revoke_reason == "incident over"
    assert AuditEvent.objects.filter(action="request.revoked", actor_name="bob").exists()


def test_revoke_by_someone_who_may_not_is_a_403(login, make_request, user):
    request = make_request()
    review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="ok")
    client = login("erin")
    assert "End this access early" not in client.get(page_url(request)).content.decode()
    response = client.post(revoke_url(request), {"reason": "because"})
    assert response.status_code == 403
    assert "Not revoked: you may not revoke this access." in messages_of(response)


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_request_page_itself_takes_no_writes(login, make_request, method):
    request = make_request()
    response = getattr(login("bob"), method)(page_url(request), {"state": "APPROVED"})
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.state == RequestState.PENDING


def test_a_request_past_its_pending_time_is_shown_closed_as_the_service_refuses_it(
    login, make_request
):
    """Not yet swept by the worker: the page asks the review service's own check."""
    from datetime import timedelta

    from django.utils import timezone

    from requests_app.models import AccessRequest

    request = make_request()
    AccessRequest.objects.filter(pk=request.pk).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    client = login("bob")
    page = client.get(page_url(request)).content.decode()
    assert "passed its pending time" in page
    assert 'name="decision" value="APPROVED"' not in page
    response = client.post(review_url(request), {"decision": "APPROVED", "reason": "ok"})
    assert response.status_code == 409
