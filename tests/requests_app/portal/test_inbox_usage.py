"""The review inbox warns of the requester's grants approved and never used."""

from __future__ import annotations

import html

from django.urls import reverse

from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

INBOX = reverse("portal:inbox")


def test_inbox_shows_the_requesters_unused_grant(bob_client, requester, reviewer):
    first = access_request_create(requester=requester, roles=["dev-admin"], reason="INC-1")
    review_submit(request_id=first.id, reviewer=reviewer, state="APPROVED")
    access_request_create(requester=requester, roles=["db-admin"], reason="INC-2")
    page = html.unescape(bob_client.get(INBOX).content.decode())
    assert "Approved, never used:" in page and "alice did not use 1 recent grant: dev-admin" in page
    access_check(user=requester, role="dev-admin")
    assert "Approved, never used" not in bob_client.get(INBOX).content.decode()


def test_inbox_says_at_least_past_the_shown_number(bob_client, requester, reviewer, monkeypatch):
    from requests_app.portal.views import reviews

    for n in range(2):
        made = access_request_create(requester=requester, roles=["dev-admin"], reason=f"INC-{n}")
        review_submit(request_id=made.id, reviewer=reviewer, state="APPROVED")
    access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    monkeypatch.setattr(reviews, "SHOWN", 1)
    page = html.unescape(bob_client.get(INBOX).content.decode())
    assert "alice did not use at least 1 recent grant: dev-admin" in page


def test_the_inbox_reads_only_the_shown_unused_grants_of_a_requester(requester, reviewer):
    from requests_app.selectors.usage import unused_grants_by_user

    for n in range(3):
        made = access_request_create(requester=requester, roles=["dev-admin"], reason=f"INC-{n}")
        review_submit(request_id=made.id, reviewer=reviewer, state="APPROVED")
    every = unused_grants_by_user(user_ids=[requester.pk], viewer=reviewer, limit=10)
    assert len(every[requester.pk]) == 3
    two = unused_grants_by_user(user_ids=[requester.pk], viewer=reviewer, limit=2)
    assert two[requester.pk] == every[requester.pk][:2]  # the newest two, cut in the database
