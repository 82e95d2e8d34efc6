"""The error summary of the request and extend forms: a stale preview refused by the
service shows the errors (not a preview that is not there); the count is of errors."""

from __future__ import annotations

import html

from django.template.loader import render_to_string
from django.urls import reverse

from requests_app.models import AccessRequest
from requests_app.portal.forms import ExtendForm

NEW = reverse("portal:request-new")
STALE = "0" * 32  # the digest of a preview drawn from other fields


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_stale_preview_refused_by_the_service_shows_the_linked_errors(alice_client):
    response = alice_client.post(
        NEW,
        {"action": "submit", "roles": ["db-admin"], "max_duration": "15d", "preview_digest": STALE},
    )
    page = text(response)
    assert response.status_code == 422
    assert "The preview now shows what it asks for" not in page
    assert 'href="#id_max_duration"' in page and "may be at most 14d" in page
    assert not AccessRequest.objects.exists()


def test_stale_extension_preview_refused_by_the_service_shows_the_linked_errors(
    alice_client, approved_request
):
    url = reverse("portal:request-extend", args=[approved_request.id])
    response = alice_client.post(
        url, {"action": "submit", "reason": "more", "max_duration": "15d", "preview_digest": STALE}
    )
    page = text(response)
    assert response.status_code == 422
    assert "The preview now shows what it asks for" not in page
    assert 'href="#id_max_duration"' in page and "may be at most 14d" in page
    assert not AccessRequest.objects.filter(extends=approved_request).exists()


def test_stale_preview_alert_has_a_heading(alice_client):
    response = alice_client.post(
        NEW, {"action": "submit", "roles": ["db-admin"], "reason": "x", "preview_digest": STALE}
    )
    page = text(response)
    assert response.status_code == 409
    alert = page.split("data-error-summary")[0].rsplit("<div", 1)[1]
    assert 'aria-labelledby="stale-preview-title"' in alert
    assert '<h2 id="stale-preview-title"' in page


def test_error_summary_counts_errors_not_fields():
    form = ExtendForm({"reason": "x", "max_duration": "1h"})
    form.is_valid()
    form.add_error("max_duration", "too long for the role")
    form.add_error("max_duration", "too long for the resource")
    page = render_to_string("portal/_form_errors.html", {"form": form})
    assert "2 things to fix" in page and page.count("<li>") == 2
    form.add_error(None, "refused")
    assert "3 things to fix" in render_to_string("portal/_form_errors.html", {"form": form})
