"""The request's "who may see and review this" page: guardian's rows, explained, read-only."""

from __future__ import annotations

from django.urls import reverse

from policies_app.models import ReviewerProfile
from requests_app.services.reviews import review_submit


def perms_url(request) -> str:
    return reverse("admin:requests_app_accessrequest_permissions", args=[request.pk])


def test_page_lists_requester_profiles_past_reviewers_and_auditors(login, make_request, user):
    request = make_request()
    client = login("bob")
    (pending_row,) = client.get(perms_url(request)).context["group_rows"]
    assert set(pending_row["perms"]) == {"view_accessrequest", "review_accessrequest"}
    review_submit(request_id=request.id, reviewer=user("carol"), state="DENIED", reason="no")

    page = client.get(reverse("admin:requests_app_accessrequest_change", args=[request.pk]))
    assert perms_url(request) in page.content.decode()
    response = client.get(perms_url(request))

    assert response.status_code == 200
    rows = {r["user"].username: r["why"] for r in response.context["user_rows"]}
    assert rows == {"alice": "requester", "carol": "reviewed it"}
    (group_row,) = response.context["group_rows"]
    assert group_row["profile"] == ReviewerProfile.objects.get(roles=["reviewer"])
    assert group_row["members"] == 2  # bob and carol
    assert group_row["rules"] == ["reviewer"]
    # Denied: the profile still sees it; its review row ended with PENDING.
    assert set(group_row["perms"]) == {"view_accessrequest"}
    model_level = {r["user"].username for r in response.context["model_level"]}
    assert "erin" in model_level  # the auditor role's view permission


def test_page_is_404_for_those_who_cannot_see_the_request_and_refuses_writes(login, make_request):
    request = make_request()
    assert login("mallory").get(perms_url(request)).status_code == 404
    assert login("bob").post(perms_url(request), {}).status_code == 403


def test_a_pending_for_profile_shows_its_window_and_the_rule_that_opens_it(
    login, make_request, apply_yaml
):
    from datetime import timedelta

    from tests.policies import WINDOWED_REVIEWERS

    apply_yaml(WINDOWED_REVIEWERS)  # sre: pending_for > 2h; first-hour: pending_for < 1h
    request = make_request()
    response = login("bob").get(perms_url(request))
    rows = {tuple(r["profile"].roles): r for r in response.context["group_rows"]}
    sre, first_hour = rows[("sre",)], rows[("first-hour",)]
    assert timedelta(hours=2) < sre["opens"] - request.created <= timedelta(hours=2, seconds=1)
    assert sre["closes"] is None and sre["rules"] == ["sre"]  # why, as of its opening
    assert first_hour["opens"] is None
    assert first_hour["closes"] == request.created + timedelta(hours=1)
    assert first_hour["rules"] == ["first-hour"]
    page = response.content.decode()
    assert f"from {sre['opens']:%Y-%m-%d %H:%M}" in page
    assert f"until {first_hour['closes']:%Y-%m-%d %H:%M}" in page
