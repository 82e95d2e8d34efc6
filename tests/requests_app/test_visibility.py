"""Who sees which request, and each reviewer's queue, from guardian rows kept in sync."""

from __future__ import annotations

from requests_app.models import AccessRequest
from requests_app.selectors import requests_needing_review
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit


def test_requester_reviewers_auditor_and_superuser_see_a_request(
    requester, reviewer, second_reviewer, outsider, auditor, admin
):
    request = access_request_create(requester=requester, roles=["db-admin"])
    for person in (requester, reviewer, second_reviewer, auditor, admin):
        assert list(AccessRequest.objects.visible_to(person)) == [request], person
    assert not AccessRequest.objects.visible_to(outsider).exists()


def test_queue_lists_pending_requests_the_reviewer_may_review(requester, reviewer, outsider):
    first = access_request_create(requester=requester, roles=["db-admin"])
    second = access_request_create(requester=requester, roles=["dev-admin"])
    assert list(requests_needing_review(reviewer)) == [first, second]  # oldest first
    assert not requests_needing_review(outsider).exists()
    assert not requests_needing_review(requester).exists()


def test_queue_drops_reviewed_and_resolved_requests(requester, reviewer, second_reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    assert not requests_needing_review(reviewer).exists()
    assert not requests_needing_review(second_reviewer).exists()  # approved: no longer pending


def test_policy_change_moves_pending_requests_between_queues(requester, reviewer, apply_yaml, user):
    request = access_request_create(requester=requester, roles=["db-admin"])
    apply_yaml(
        "kind: user\nname: bob\nroles: []\n---\nkind: user\nname: mallory\nroles: [reviewer]\n"
    )
    assert not requests_needing_review(reviewer).exists()
    assert not AccessRequest.objects.visible_to(reviewer).exists()
    assert list(requests_needing_review(user("mallory"))) == [request]


def test_queue_is_two_queries_whatever_its_length(requester, reviewer, django_assert_num_queries):
    # The reviewer's review rows, then their requests by primary key.
    for size in (1, 5):
        while len(list(requests_needing_review(reviewer))) < size:
            access_request_create(requester=requester, roles=["db-admin"])
        with django_assert_num_queries(2):
            assert len(list(requests_needing_review(reviewer))) == size


def test_resolvers_and_revokers_see_every_request_so_they_can_act_on_it(
    requester, apply_yaml, user
):
    request = access_request_create(requester=requester, roles=["db-admin"])
    apply_yaml(
        """
kind: role
name: resolver
spec: {allow: {permissions: [requests_app.resolve_accessrequest]}}
---
kind: role
name: revoker
spec: {allow: {permissions: [requests_app.revoke_grant]}}
---
kind: user
name: rita
roles: [resolver]
---
kind: user
name: rob
roles: [revoker]
"""
    )
    assert list(AccessRequest.objects.visible_to(user("rita"))) == [request]
    assert list(AccessRequest.objects.visible_to(user("rob"))) == [request]
