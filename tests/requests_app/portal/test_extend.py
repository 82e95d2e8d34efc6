"""Extending access from the portal: preview, submit, refusals; others' access is 404."""

from __future__ import annotations

import html
from datetime import timedelta

import time_machine
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from requests_app.models import AccessRequest
from requests_app.services.reviews import review_submit


def text(response) -> str:
    return html.unescape(response.content.decode())


def extend_url(request) -> str:
    return reverse("portal:request-extend", args=[request.id])


def test_extend_page_shows_the_current_access(alice_client, approved_request):
    page = text(alice_client.get(extend_url(approved_request)))
    assert "Extend access" in page and "db-admin" in page
    assert 'data-countdown data-prefix="in" data-done="now">in 2h</time>' in page
    assert "INC-42 disk full</textarea>" in page  # the old reason, to edit


def test_preview_says_the_extension_starts_when_the_access_ends(alice_client, approved_request):
    response = alice_client.post(
        extend_url(approved_request),
        {"action": "preview", "reason": "still on it", "max_duration": "1h"},
    )
    page = text(response)
    assert response.status_code == 200
    assert "when your current access ends, or at approval if later" in page
    assert "<strong>1h</strong>" in page and "bob, carol" in page
    assert AccessRequest.objects.count() == 1


def test_submit_extension_then_approval_continues_without_a_gap(
    alice_client, approved_request, user
):
    response = alice_client.post(
        extend_url(approved_request),
        {"action": "submit", "reason": "still on it", "max_duration": "1h"},
    )
    extension = AccessRequest.objects.get(extends=approved_request)
    assert response["Location"] == reverse("portal:request-detail", args=[extension.id])
    page = text(alice_client.get(response["Location"]))
    assert "Extension requested." in page and "when the access it extends ends" in page
    home = text(alice_client.get(reverse("portal:home")))
    assert "An extension is waiting for review." in home
    with time_machine.travel(approved_request.access_starts + timedelta(minutes=30), tick=False):
        extension = review_submit(
            request_id=extension.id, reviewer=user("bob"), state="APPROVED", reason="ok"
        )
    assert extension.access_starts == approved_request.access_expires
    page = text(alice_client.get(reverse("portal:request-detail", args=[approved_request.id])))
    assert "approved, asked" in page  # the original links to its extension


def test_second_extension_while_one_waits_is_refused_on_the_form(alice_client, approved_request):
    url = extend_url(approved_request)
    alice_client.post(url, {"action": "submit", "reason": "one"})
    response = alice_client.post(url, {"action": "submit", "reason": "two"})
    assert response.status_code == 409
    page = text(response)
    assert "An extension of this access is already waiting for review" in page
    assert "two</textarea>" in page


def test_ended_access_cannot_be_extended(alice_client, approved_request):
    alice_client.post(reverse("portal:request-end", args=[approved_request.id]), {"reason": "x"})
    page = text(alice_client.get(extend_url(approved_request)))
    assert "it cannot be extended" in page and "role=db-admin" in page
    response = alice_client.post(extend_url(approved_request), {"action": "submit", "reason": "y"})
    assert response.status_code == 409
    assert "Only approved access can be extended; this request is revoked" in text(response)
    assert not AccessRequest.objects.filter(extends=approved_request).exists()


def test_extension_above_the_ceiling_is_refused_on_the_field(alice_client, approved_request):
    response = alice_client.post(
        extend_url(approved_request), {"action": "preview", "max_duration": "30d"}
    )
    assert response.status_code == 422
    assert 'id="id_max_duration_error"' in text(response)


def test_reviewer_cannot_extend_someone_elses_access(bob_client, approved_request):
    """bob may see the request, so he is told why (403), as the API and accessctl say."""
    shown = bob_client.get(extend_url(approved_request))
    assert shown.status_code == 403
    assert "Not extended: only the requester may extend their access." in text(shown)
    response = bob_client.post(extend_url(approved_request), {"action": "submit", "reason": "x"})
    assert response.status_code == 403
    assert approved_request.state == RequestState.APPROVED
    assert not AccessRequest.objects.filter(extends=approved_request).exists()


def test_strangers_get_404(mallory_client, approved_request):
    assert mallory_client.get(extend_url(approved_request)).status_code == 404


def test_extend_form_shows_the_rules_the_service_applies(
    alice_client, approved_request, apply_yaml
):
    from tests.policies import SEARCH_PROD, engineer_requests

    apply_yaml(
        engineer_requests(
            SEARCH_PROD,
            "max_duration: 1h",
            'reason: {mode: required, prompt: "Ticket"}',
            roles="[db-admin, dev-admin]",
        )
    )
    page = text(alice_client.get(extend_url(approved_request)))
    assert "Ask to extend by 1h" in page and "tag-required" in page
    response = alice_client.post(extend_url(approved_request), {"action": "submit", "reason": ""})
    assert "A reason is required for this request (Ticket)" in text(response)
    alice_client.post(extend_url(approved_request), {"action": "submit", "reason": "T-1"})
    assert AccessRequest.objects.get(extends=approved_request).max_duration == 3600  # as shown
