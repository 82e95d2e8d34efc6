"""How ended access reads in the portal: ended early, revoked (by a person or the system),
cancelled before it started, expired; each once in "Recently ended"."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke, revoke_locked
from requests_app.services.reviews import review_submit

HOME = reverse("portal:home")
LIST = reverse("portal:request-list")


def text(response) -> str:
    return html.unescape(response.content.decode())


def recently_ended(page: str) -> str:
    return page.split('id="ended-title"')[1].split("</section>")[0]


def extended(request, requester, reviewer) -> AccessRequest:
    """An approved extension of `request`, starting when `request` ends."""
    extension = access_request_extend(requester=requester, request_id=request.id, reason="more")
    return review_submit(request_id=extension.id, reviewer=reviewer, state="APPROVED", reason="ok")


def test_ending_extended_access_early_is_listed_once_and_the_extension_reads_cancelled(
    alice_client, requester, reviewer, approved_request
):
    extension = extended(approved_request, requester, reviewer)
    alice_client.post(reverse("portal:request-end", args=[approved_request.id]), {"reason": ""})
    extension.refresh_from_db()
    assert extension.state == RequestState.REVOKED  # revoked with its parent, before it started

    ended = recently_ended(text(alice_client.get(HOME)))
    assert ended.count('class="row"') == 1
    assert "Ended early at" in ended
    assert reverse("portal:request-detail", args=[approved_request.id]) in ended

    page = text(alice_client.get(reverse("portal:request-detail", args=[extension.id])))
    assert "Ended early" not in page
    assert ">Cancelled<" in page and "Cancelled before it started, at" in page
    rows = text(alice_client.get(LIST)).split("<tbody>")[1].split("</tr>")
    extension_row = next(r for r in rows if "extension</span>" in r)
    assert "Ended early" not in extension_row and "Cancelled" in extension_row
    original_row = next(r for r in rows if r.strip() and "extension</span>" not in r)
    assert "Ended early" in original_row


def test_extension_that_took_over_and_was_ended_early_is_listed_once(
    alice_client, requester, reviewer, approved_request
):
    extension = extended(approved_request, requester, reviewer)
    with time_machine.travel(extension.access_starts + timedelta(minutes=10), tick=False):
        access_request_revoke(request_id=extension.id, actor=requester, reason="done")
        alice_client.force_login(requester)  # hours later: a fresh session
        ended = recently_ended(text(alice_client.get(HOME)))
    assert ended.count('class="row"') == 1
    assert reverse("portal:request-detail", args=[extension.id]) in ended
    assert "Ended early at" in ended


def test_system_revocation_names_nobody_and_gives_its_reason(alice_client, approved_request):
    request = AccessRequest.objects.select_related("user").get(pk=approved_request.pk)
    revoke_locked(request, actor="scim:okta", reason="deprovisioned in Okta", now=timezone.now())
    request.refresh_from_db()
    assert request.revoked_by is None

    ended = recently_ended(text(alice_client.get(HOME)))
    assert "Revoked by  at" not in ended and "Revoked by" not in ended
    assert "Revoked at" in ended and "deprovisioned in Okta" in ended
    page = text(alice_client.get(reverse("portal:request-detail", args=[request.id])))
    assert "Revoked by" not in page and "Revoked at" in page
    assert "deprovisioned in Okta" in page


def test_revocation_by_a_reviewer_names_them(alice_client, reviewer, approved_request):
    access_request_revoke(request_id=approved_request.id, actor=reviewer, reason="incident")
    ended = recently_ended(text(alice_client.get(HOME)))
    assert "Revoked by bob at" in ended


def test_recently_ended_is_the_last_seven_days(alice_client, requester, approved_request):
    page = text(alice_client.get(HOME))
    assert 'id="ended-title"' not in page  # still running
    with time_machine.travel(approved_request.access_expires + timedelta(days=1), tick=False):
        alice_client.force_login(requester)
        ended = recently_ended(text(alice_client.get(HOME)))
        assert "last 7 days" in ended and "Ended at" in ended
    with time_machine.travel(approved_request.access_expires + timedelta(days=8), tick=False):
        alice_client.force_login(requester)
        assert 'id="ended-title"' not in text(alice_client.get(HOME))


def test_end_early_says_it_ends_the_whole_chain_on_both_pages(
    alice_client, requester, reviewer, approved_request
):
    first = extended(approved_request, requester, reviewer)
    second = access_request_extend(requester=requester, request_id=first.id, reason="even more")
    sentence = (
        "Ending it also ends its approved extension and cancels the extension waiting for review."
    )

    page = text(alice_client.get(reverse("portal:request-detail", args=[approved_request.id])))
    assert sentence in page
    # tied to the reason field, so a screen reader reads it with the field
    assert 'id="id_reason_helptext"' in page
    field = re.search(r'<input[^>]*name="reason"[^>]*>', page).group(0)
    assert 'aria-describedby="id_reason_helptext"' in field
    assert sentence in text(alice_client.get(HOME))

    alice_client.post(reverse("portal:request-end", args=[approved_request.id]), {"reason": ""})
    second.refresh_from_db()
    assert second.state == RequestState.WITHDRAWN  # what the sentence said


def test_end_early_of_access_without_extensions_says_nothing_more(alice_client, approved_request):
    page = text(alice_client.get(reverse("portal:request-detail", args=[approved_request.id])))
    assert "Ending it also" not in page and 'name="reason"' in page
