"""Usage on the admin desk: the request page warns of the requester's grants approved and
never used; the grants' list shows first and last use and filters the never used."""

from __future__ import annotations

import html

from django.urls import reverse

from requests_app.selectors.access import access_check
from requests_app.services.reviews import review_submit

GRANTS = reverse("admin:requests_app_grant_changelist")


def approved(make_request, user, roles):
    request = make_request(list(roles))
    return review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED")


def page_of(client, request) -> str:
    url = reverse("admin:requests_app_accessrequest_change", args=[request.pk])
    return html.unescape(client.get(url).content.decode())


def test_the_next_request_page_warns_of_a_grant_never_used(login, make_request, user):
    approved(make_request, user, ["dev-admin"])
    following = make_request(["db-admin"])
    page = page_of(login("bob"), following)
    assert "Approved, never used:" in page and "did not use 1 recent grant" in page
    assert "dev-admin" in page


def test_no_warning_once_the_grant_was_used(login, make_request, user, requester):
    approved(make_request, user, ["dev-admin"])
    assert access_check(user=requester, role="dev-admin").allowed
    following = make_request(["db-admin"])
    assert "Approved, never used" not in page_of(login("bob"), following)


def test_grants_list_shows_use_and_filters_never_used(login, make_request, user, requester):
    approved(make_request, user, ["dev-admin"])
    approved(make_request, user, ["db-admin"])
    access_check(user=requester, role="db-admin")
    client = login("bob")
    listed = lambda q: {g.target for g in client.get(f"{GRANTS}?{q}").context["cl"].result_list}  # noqa: E731
    assert listed("use=never") == {"dev-admin"}
    assert listed("use=used") == {"db-admin"}
    page = client.get(GRANTS).content.decode()
    assert "first used" in page.lower() and "last used" in page.lower()


def test_past_the_shown_number_the_warning_says_at_least(login, make_request, user, monkeypatch):
    from requests_app.admin import details

    approved(make_request, user, ["dev-admin"])
    approved(make_request, user, ["dev-admin"])
    following = make_request(["db-admin"])
    monkeypatch.setattr(details, "SHOWN", 1)
    page = page_of(login("bob"), following)
    assert "did not use at least 1 recent grant" in page
    monkeypatch.setattr(details, "SHOWN", 2)
    assert "did not use 2 recent grants" in page_of(login("bob"), following)
