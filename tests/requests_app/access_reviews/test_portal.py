"""The portal's "My reviews" page, without JavaScript and with htmx."""

from __future__ import annotations

import pytest

from policies_app.models import RoleMembership
from requests_app.services.access_reviews import campaign_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(review_setup, user):
    return campaign_start(review_name="reviewers-recert", actor=user("sam"))


def test_my_reviews_lists_my_items_and_a_decision_takes_it_away(client, run, user):
    client.force_login(user("carol"))
    page = client.get("/reviews/access/")
    assert page.status_code == 200
    assert b"bob" in page.content and b"My reviews" in page.content
    item = run.items.get(user__username="bob")
    refused = client.post(f"/reviews/access/{item.pk}/", {"decision": "REMOVE", "reason": ""})
    assert refused.status_code == 422 and b"reason" in refused.content
    done = client.post(
        f"/reviews/access/{item.pk}/", {"decision": "REMOVE", "reason": "left"}, follow=True
    )
    assert b"You removed bob" in done.content
    assert not RoleMembership.objects.filter(user=user("bob"), role__name="reviewer").exists()
    assert b"All clear" in client.get("/reviews/access/").content


def test_htmx_decision_swaps_the_item_for_a_notice(client, run, user):
    client.force_login(user("carol"))
    item = run.items.get(user__username="bob")
    answer = client.post(
        f"/reviews/access/{item.pk}/", {"decision": "KEEP", "reason": "ok"}, HTTP_HX_REQUEST="true"
    )
    assert answer.status_code == 200 and b"You kept bob" in answer.content
    assert b"<html" not in answer.content


def test_someone_elses_item_is_404_and_own_is_refused(client, run, user):
    item = run.items.get(user__username="bob")
    client.force_login(user("mallory"))
    assert (
        client.post(f"/reviews/access/{item.pk}/", {"decision": "KEEP", "reason": "x"}).status_code
        == 404
    )
    client.force_login(user("bob"))
    own = client.post(f"/reviews/access/{item.pk}/", {"decision": "KEEP", "reason": "x"})
    assert own.status_code == 403
