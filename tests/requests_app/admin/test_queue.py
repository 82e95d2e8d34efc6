"""The "Pending for me" queue: only what the reviewer may review, oldest first, with the
facts a reviewer scans for; no queue at all without standing review rights."""

from __future__ import annotations

import datetime

import time_machine
from django.urls import reverse
from django.utils import timezone

from requests_app.services.reviews import review_submit
from tests.policies import CAROL_REVIEWS_DEV_ADMIN_ONLY

QUEUE = reverse("admin:requests_app_pendingrequest_changelist")


def _rows(response) -> list[str]:
    return [str(obj.pk) for obj in response.context["cl"].result_list]


def test_queue_lists_requests_the_reviewer_may_review_oldest_first(login, make_request):
    now = timezone.now()
    with time_machine.travel(now - datetime.timedelta(hours=3)):
        older = make_request(["dev-admin"], reason="INC-1: older")
    with time_machine.travel(now - datetime.timedelta(hours=1)):
        newer = make_request(["db-admin"], reason="INC-2: newer")
    response = login("bob").get(QUEUE)
    assert response.status_code == 200
    assert _rows(response) == [str(older.pk), str(newer.pk)]


def test_queue_shows_requester_items_reason_duration_age_time_left(login, make_request):
    now = timezone.now()
    with time_machine.travel(now - datetime.timedelta(hours=2, minutes=5)):
        make_request(["db-admin"], reason="INC-7: replica lag", max_duration="2h")
    page = login("bob").get(QUEUE).content.decode()
    for text in ["alice", "db-admin", "INC-7: replica lag", "2h", "on approval", "2h 5m", "21h"]:
        assert text in page, text
    assert "Default threshold: 0 of 1 approvals" in page


def test_queue_shows_progress_toward_each_threshold(login, make_request, two_person, user):
    request = make_request(["db-admin"])
    review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="ok")
    page = login("bob").get(QUEUE).content.decode()
    assert "two-person: 1 of 2 approvals" in page


def test_queue_leaves_out_what_the_reviewer_may_not_review(login, make_request, apply_yaml):
    apply_yaml(CAROL_REVIEWS_DEV_ADMIN_ONLY)
    dev = make_request(["dev-admin"])
    make_request(["db-admin"])
    assert _rows(login("carol").get(QUEUE)) == [str(dev.pk)]


def test_queue_leaves_out_requests_already_reviewed_and_resolved(
    login, make_request, two_person, user
):
    reviewed = make_request(["db-admin"])
    review_submit(request_id=reviewed.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    resolved = make_request(["dev-admin"])
    review_submit(request_id=resolved.id, reviewer=user("carol"), state="DENIED", reason="no")
    waiting = make_request(["reviewer"])
    assert _rows(login("bob").get(QUEUE)) == [str(waiting.pk)]


def test_queue_leaves_out_requests_past_their_pending_time(login, make_request):
    make_request(["db-admin"], request_ttl="1h")
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=2)):
        assert _rows(login("bob").get(QUEUE)) == []


def test_own_requests_never_appear_in_own_queue(login, make_request, apply_yaml, requester):
    apply_yaml("kind: user\nname: alice\nroles: [engineer, reviewer]\n")
    make_request(["db-admin"])
    assert _rows(login("alice").get(QUEUE)) == []


def test_no_queue_without_standing_review_rights(login, make_request):
    make_request(["db-admin"])
    for name in ["mallory", "erin", "alice"]:
        client = login(name)
        assert client.get(QUEUE).status_code == 403, name
        index = client.get(reverse("admin:index")).content.decode()
        assert "Pending for me" not in index, name
        assert "review-queue-panel" not in index, name


def test_granted_reviewer_role_gives_no_queue(login, make_request, user):
    """Access granted by a request never grants review rights (no recursive elevation)."""
    request = make_request(["reviewer"])
    review_submit(request_id=request.id, reviewer=user("bob"), state="APPROVED", reason="ok")
    assert login("alice").get(QUEUE).status_code == 403


def test_admin_index_shows_the_reviewers_queue_count(login, make_request):
    make_request(["db-admin"])
    make_request(["dev-admin"])
    index = login("bob").get(reverse("admin:index")).content.decode()
    assert "review-queue-panel" in index
    assert "requests waiting for your review" in index
    assert '<span class="ap-count">2</span>' in index


def test_queue_rows_link_to_the_request_page(login, make_request):
    request = make_request(["db-admin"])
    client = login("bob")
    page = client.get(QUEUE).content.decode()
    url = reverse("admin:requests_app_accessrequest_change", args=[request.pk])
    assert url in page
    proxy_url = reverse("admin:requests_app_pendingrequest_change", args=[request.pk])
    assert client.get(proxy_url).url == url


def test_queue_query_count_does_not_grow_with_rows(
    login, make_request, django_assert_max_num_queries
):
    for i in range(12):
        make_request(["db-admin"], reason=f"INC-{i}")
    client = login("bob")
    with django_assert_max_num_queries(18):  # 3 of them: the sliding session save
        response = client.get(QUEUE)
    assert len(_rows(response)) == 12
