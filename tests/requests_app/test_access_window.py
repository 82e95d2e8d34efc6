"""One rule for when access starts: approval, the asked start, or for an extension the end
of the approved access it continues. The approving service, the admin desk's page and queue
and the portal's inbox all show the window the request would really get."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.reviews import review_submit
from requests_app.services.windows import access_window
from tests.requests_app.clock import T0


def _approve(request, reviewer):
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


@pytest.fixture
def extension(requester, reviewer):
    """alice's db-admin access 09:00-11:00, and her pending 3h extension asked at 09:30."""
    with time_machine.travel(T0, tick=False):
        original = _approve(
            access_request_create(requester=requester, roles=["db-admin"], max_duration="2h"),
            reviewer,
        )
    with time_machine.travel(T0 + timedelta(minutes=30), tick=False):
        pending = access_request_extend(
            requester=requester, request_id=original.id, max_duration="3h"
        )
    return original, pending


def _page(person, url) -> str:
    client = Client()
    client.force_login(person)
    response = client.get(url)
    assert response.status_code == 200
    # The page's text, as a person reads it (tags out, spaces collapsed).
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def test_pending_extension_window_starts_when_the_current_access_ends(extension):
    original, pending = extension
    window = access_window(pending, T0 + timedelta(minutes=45))
    assert window.planned and window.extends_current
    assert window.starts == original.access_expires == T0 + timedelta(hours=2)
    assert window.expires == T0 + timedelta(hours=5)
    # Approved after the access ended, it starts at approval.
    late = access_window(pending, T0 + timedelta(hours=3))
    assert late.starts_on_approval and late.starts == T0 + timedelta(hours=3)


def test_a_second_extension_starts_after_the_first_approved_one(extension, user):
    original, first = extension
    carol = user("carol")
    with time_machine.travel(T0 + timedelta(minutes=40), tick=False):
        first = _approve(first, carol)
        second = access_request_extend(
            requester=original.user, request_id=original.id, max_duration="1h"
        )
        second = _approve(second, carol)
    assert first.access_starts == original.access_expires
    # Not at the end of the original (an overlap that loses access time): after the chain.
    assert second.access_starts == first.access_expires == T0 + timedelta(hours=5)
    assert second.access_expires == T0 + timedelta(hours=6)


def test_admin_request_page_shows_an_extension_and_its_real_window(extension, user):
    _, pending = extension
    bob = user("bob")
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    url = reverse("admin:requests_app_accessrequest_change", args=[pending.pk])
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        page = _page(bob, url)
    assert "an extension of" in page
    assert "1 Apr 2026, 11:00 UTC (when the current access ends)" in page
    assert "1 Apr 2026, 14:00 UTC" in page  # would end: 11:00 + 3h
    assert "on approval (if approved now" not in page


def test_admin_queue_shows_an_extension_starting_when_the_current_access_ends(extension, user):
    bob = user("bob")
    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        page = _page(bob, reverse("admin:requests_app_pendingrequest_changelist"))
    assert "1 Apr 2026, 11:00 UTC (extension: when the current access ends)" in page
    assert "on approval" not in page


def test_portal_inbox_shows_when_the_extension_would_start(extension, reviewer):
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        page = _page(reviewer, reverse("portal:inbox"))
    assert "when current access ends, 1 Apr 2026, 11:00 UTC" in page
