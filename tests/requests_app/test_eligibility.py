""" "May review" and "is a reviewer" have one source (`requests_app.selectors`): the review
service, `may_revoke`, the admin's reviewer list and queue, the portal and the API's `me/`
all answer from it, so they cannot disagree."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accessportal.kernel.errors import NotAllowed
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit

pytestmark = pytest.mark.django_db


def _create(requester):
    return access_request_create(requester=requester, roles=["db-admin"], reason="INC-42: disk")


def _deactivate(person):
    person.is_active = False
    person.save(update_fields=["is_active"])


def test_a_deactivated_reviewer_is_not_listed_by_the_admin_nor_the_portal(
    requester, reviewer, second_reviewer, user
):
    request = _create(requester)
    _deactivate(second_reviewer)
    staff = user("erin")
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    admin_client, portal_client = Client(), Client()
    admin_client.force_login(staff)
    portal_client.force_login(requester)
    page = admin_client.get(
        reverse("admin:requests_app_accessrequest_change", args=[request.pk])
    ).content.decode()
    detail = portal_client.get(reverse("portal:request-detail", args=[request.pk]))
    assert "<dt>Eligible reviewers</dt><dd>bob</dd>" in page
    assert "<strong>Who can review:</strong> bob</p>" in detail.content.decode()


def test_a_deactivated_reviewer_may_not_revoke_through_the_reviewer_path(
    requester, reviewer, second_reviewer
):
    request = _create(requester)
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    _deactivate(second_reviewer)
    with pytest.raises(NotAllowed):
        access_request_revoke(request_id=request.id, actor=second_reviewer, reason="gone")


def test_the_requester_still_revokes_their_own_access(requester, reviewer):
    request = _create(requester)
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    revoked = access_request_revoke(request_id=request.id, actor=requester, reason="done")
    assert revoked.state == "REVOKED"


@pytest.mark.parametrize(("name", "reviews"), [("bob", True), ("alice", False)])
def test_is_a_reviewer_is_the_same_answer_on_api_portal_and_admin(user, base_policy, name, reviews):
    person = user(name)
    person.is_staff = True
    person.save(update_fields=["is_staff"])
    api = APIClient()
    api.force_authenticate(person)
    assert api.get("/api/v1/me/").json()["is_reviewer"] is reviews
    portal = Client()
    portal.force_login(person)
    nav = portal.get(reverse("portal:home")).content.decode()
    assert (reverse("portal:inbox") in nav) is reviews
    admin_index = portal.get(reverse("admin:index")).content.decode()
    queue = reverse("admin:requests_app_pendingrequest_changelist")
    assert (queue in admin_index) is reviews
