"""The admin desk's access review queue: decisions through the service, reports for
auditors, 404 for rows the caller may not see."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from policies_app.models import RoleMembership
from requests_app.services.access_reviews import campaign_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(review_setup, user):
    return campaign_start(review_name="reviewers-recert", actor=user("sam"))


def _staff(name):
    get_user_model().objects.filter(username=name).update(is_staff=True)
    return get_user_model().objects.get(username=name)


def test_reviewer_decides_from_the_admin_queue_with_a_reason(client, run, user):
    client.force_login(_staff("carol"))
    item = run.items.get(user__username="bob")
    listing = client.get("/admin/requests_app/campaignitem/")
    assert listing.status_code == 200 and b"bob" in listing.content
    client.post(
        "/admin/requests_app/campaignitem/",
        {"action": "remove", "_selected_action": [item.pk], "reason": ""},
    )
    assert RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()
    client.post(
        "/admin/requests_app/campaignitem/",
        {"action": "remove", "_selected_action": [item.pk], "reason": "moved teams"},
    )
    item.refresh_from_db()
    assert item.outcome == "removed" and item.decided_by == "carol"


def test_reports_are_for_auditors_and_unseen_items_404(client, run, user, admin):
    client.force_login(_staff("mallory"))
    item = run.items.get(user__username="bob")
    assert client.get(f"/admin/requests_app/campaignitem/{item.pk}/change/").status_code == 404
    assert client.get(f"/admin/requests_app/campaignrun/{run.pk}/report.csv").status_code == 404
    client.force_login(admin)
    csv = client.get(f"/admin/requests_app/campaignrun/{run.pk}/report.csv")
    assert csv.status_code == 200 and b"bob,reviewer" in csv.content
    pdf = client.get(f"/admin/requests_app/campaignrun/{run.pk}/report.pdf")
    assert pdf.content.startswith(b"%PDF")
