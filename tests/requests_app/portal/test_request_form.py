"""Request access: what may be asked for, the preview, submitting, and every refusal shown
on the form with what was typed kept."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest
from tests.policies import SEARCH_PROD, engineer_requests

NEW = reverse("portal:request-new")

STRICT = engineer_requests(
    SEARCH_PROD,
    "max_duration: 4h",
    'reason: {mode: required, prompt: "Ticket number and why you need it"}',
    roles="[db-admin, dev-admin]",
)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def post(client, **data):
    return client.post(NEW, data)


def test_form_lists_only_what_i_may_request_with_caps(alice_client):
    page = page_text(alice_client.get(NEW))
    for role in ("db-admin", "dev-admin", "reviewer"):
        assert f'name="roles" value="{role}"' in page
    assert 'value="auditor"' not in page and 'value="prod-access"' not in page
    assert "up to 8h" in page
    # Resources reachable through search-as roles, and nothing else.
    assert 'value="node/db-prod-1"' in page
    assert 'value="node/web-dev-1"' not in page and 'value="db/billing"' not in page
    for label in ("Reason", "For how long", "Start at", "Suggested reviewers", "Kind", "Labels"):
        assert f">{label}" in page


def test_reason_prompt_and_requirement_and_cap_are_shown(alice_client, apply_yaml):
    apply_yaml(STRICT)
    page = page_text(alice_client.get(NEW))
    assert "Ticket number and why you need it" in page
    assert '<span class="tag tag-required">required</span>' in page
    assert "At most 4h. A longer ask is lowered to the cap; more than 14d is refused." in page
    # Still there after a preview, and linked to the field it explains.
    page = page_text(post(alice_client, action="preview", roles=["db-admin"], reason="T-1"))
    assert 'id="id_reason_helptext">Ticket number and why you need it<' in page
    assert 'aria-describedby="id_max_duration_helptext"' in page and "At most 4h" in page


def test_someone_with_nothing_to_request_is_told(mallory_client, admin):
    page = page_text(mallory_client.get(NEW))
    assert "There is nothing you may request" in page
    assert "Ask your security team or the people who run Access Portal" in page
    assert admin.get_username() not in page  # superusers are not named to anyone
    assert 'id="request-form"' not in page  # no form that cannot work


def test_nothing_to_request_names_the_configured_contact(mallory_client, admin, settings):
    settings.ACCESS_PORTAL_HELP_CONTACT = "#access-help on Slack"
    page = page_text(mallory_client.get(NEW))
    assert "Ask #access-help on Slack for a role that allows requests" in page
    assert admin.get_username() not in page


def test_preview_shows_what_how_long_and_who_approves_and_stores_nothing(alice_client):
    before = AuditEvent.objects.count()
    response = post(
        alice_client, action="preview", roles=["db-admin"], reason="INC-7", max_duration="2h"
    )
    page = page_text(response)
    assert response.status_code == 200
    assert "If approved, you get" in page and "db-admin" in page
    assert "<strong>2h</strong>" in page
    assert "<dt>Starting</dt><dd>as soon as it is approved" in page
    assert "bob, carol" in page  # who can approve
    assert "Approved after 1 approval, denied after 1 denial" in page
    assert not AccessRequest.objects.exists() and AuditEvent.objects.count() == before
    # Everything typed is still in the form, ready to submit.
    assert 'value="db-admin" checked' in page and "INC-7</textarea>" in page
    assert 'value="2h"' in page


def test_preview_says_when_the_duration_is_lowered_to_the_cap(alice_client, apply_yaml):
    apply_yaml(STRICT)
    page = page_text(
        post(alice_client, action="preview", roles=["dev-admin"], reason="T-1", max_duration="2d")
    )
    assert "You asked for 2d; policy allows at most 4h, so it is lowered to that." in page


def test_preview_with_a_start_time(alice_client):
    start = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = page_text(
        post(alice_client, action="preview", roles=["dev-admin"], assume_start_time=start)
    )
    assert "<dt>Starting</dt><dd>as soon as it is approved" not in page
    assert "<dt>Starting</dt><dd>" in page and f'value="{start}"' in page


def test_submit_creates_the_request_and_shows_it(alice_client, requester):
    response = post(
        alice_client,
        action="submit",
        roles=["db-admin"],
        reason="INC-7",
        max_duration="90m",
        suggested_reviewers="carol",
    )
    request = AccessRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:request-detail", args=[request.id])
    assert request.user == requester and request.state == RequestState.PENDING
    assert request.roles == ["db-admin"] and request.max_duration == 5400
    assert request.suggested_reviewers == ["carol"]
    page = page_text(alice_client.get(response["Location"]))
    assert "Request sent." in page and "Pending" in page


def test_resource_request_submitted(alice_client):
    response = post(alice_client, action="submit", resources=["node/db-prod-1"], reason="deploy")
    request = AccessRequest.objects.get()
    assert response.status_code == 302 and request.resources == ["node/db-prod-1"]


# -- refusals a user can meet, each shown on the form with their input kept ----------------


def test_role_not_allowed_is_shown_on_the_form(alice_client):
    response = post(alice_client, action="submit", roles=["auditor"], reason="curious")
    page = page_text(response)
    assert response.status_code == 403
    assert "You may not request the role 'auditor'" in page
    assert 'id="id_roles_error"' in page  # under the roles, linked for screen readers
    assert "curious</textarea>" in page
    assert not AccessRequest.objects.exists()


def test_resource_not_allowed_is_shown_like_an_unknown_one(alice_client):
    for rid in ("db/billing", "node/nope"):
        page = page_text(post(alice_client, action="preview", resources=[rid], reason="x"))
        assert f"You may not request the resource '{rid}' (it does not exist" in page
        assert f'value="{rid}" checked' in page  # still ticked, so nothing is lost


def test_reason_required_is_shown_under_the_reason_with_the_prompt(alice_client, apply_yaml):
    apply_yaml(STRICT)
    response = post(alice_client, action="submit", roles=["db-admin"], max_duration="3h")
    page = page_text(response)
    assert response.status_code == 422
    assert "A reason is required for this request (Ticket number and why you need it)" in page
    assert 'id="id_reason_error"' in page and 'aria-invalid="true"' in page
    assert 'value="db-admin" checked' in page and 'value="3h"' in page
    assert not AccessRequest.objects.exists()


def test_duration_above_the_ceiling_is_refused_on_the_field(alice_client):
    response = post(alice_client, action="preview", roles=["db-admin"], max_duration="15d")
    page = page_text(response)
    assert response.status_code == 422
    assert "“For how long” may be at most 14d (asked for 15d)" in page
    assert 'href="#id_max_duration"' in page  # the error summary links to the field
    assert 'id="id_max_duration_error"' in page and 'value="15d"' in page


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        ({"max_duration": "soon"}, "is not a duration", "max_duration"),
        ({"suggested_reviewers": "ghost"}, "Unknown suggested reviewer(s): ghost", None),
        ({"roles": []}, "Ask for at least one role or resource", "roles"),
        ({"roles": ["engineer"]}, "You already hold the role 'engineer'", "roles"),
        ({"roles": ["ghost-role"]}, "may not request the role 'ghost-role'", "roles"),
    ],
)
def test_other_refusals_are_shown_in_place(alice_client, data, message, field):
    form = {"action": "submit", "roles": ["db-admin"], "reason": "kept", **data}
    page = page_text(post(alice_client, **form))
    assert message in page and "kept</textarea>" in page
    if field:
        assert f'id="id_{field}_error"' in page
    assert not AccessRequest.objects.exists()


def test_start_time_in_the_past_is_refused(alice_client):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    page = page_text(
        post(alice_client, action="submit", roles=["db-admin"], assume_start_time=past)
    )
    assert "“Start at” is in the past" in page and f'value="{past}"' in page


def test_badly_written_start_time_is_a_form_error(alice_client):
    response = post(alice_client, action="submit", roles=["db-admin"], assume_start_time="tea")
    assert response.status_code == 400
    assert "Enter a valid date/time." in page_text(response)


# -- resource search --------------------------------------------------------------------


def test_search_without_javascript_keeps_everything_typed(alice_client, apply_yaml):
    apply_yaml("kind: resource\nid: node/pay-prod-2\nlabels: {env: prod, team: web}\n")
    response = post(
        alice_client,
        action="search",
        roles=["dev-admin"],
        reason="typed before searching",
        resource_search="pay",
        resources=["node/db-prod-1"],
    )
    page = page_text(response)
    assert response.status_code == 200 and not AccessRequest.objects.exists()
    assert 'value="node/db-prod-1" checked' in page  # kept, though it does not match
    assert 'value="node/pay-prod-2"' in page
    assert "typed before searching</textarea>" in page and 'value="dev-admin" checked' in page


def test_search_by_labels_and_a_bad_label_filter(alice_client, apply_yaml):
    apply_yaml("kind: resource\nid: node/pay-prod-2\nlabels: {env: prod, team: web}\n")
    page = page_text(post(alice_client, action="search", resource_labels="team=web"))
    assert 'value="node/pay-prod-2"' in page and 'value="node/db-prod-1"' not in page
    page = page_text(post(alice_client, action="search", resource_labels="team"))
    assert "'team' is not a label filter: write key=value" in page


def test_live_search_fragment(alice_client, apply_yaml):
    apply_yaml("kind: resource\nid: node/pay-prod-2\nlabels: {env: prod, team: web}\n")
    url = reverse("portal:resource-search")
    response = alice_client.get(
        url,
        {"resource_kind": "node", "resource_search": "pay", "resources": ["node/db-prod-1"]},
        HTTP_HX_REQUEST="true",
    )
    body = page_text(response)
    assert body.lstrip().startswith('<div id="resource-results"') and "<html" not in body
    assert 'value="node/db-prod-1" checked' in body and 'value="node/pay-prod-2"' in body
    empty = page_text(alice_client.get(url, {"resource_search": "zzz"}, HTTP_HX_REQUEST="true"))
    assert "No resource you may request matches this search." in empty


def test_live_search_never_shows_forbidden_resources(alice_client):
    url = reverse("portal:resource-search")
    body = page_text(alice_client.get(url, {"resource_kind": "db"}, HTTP_HX_REQUEST="true"))
    assert "db/billing" not in body


def test_live_search_address_visited_directly_gives_the_request_page(alice_client):
    response = alice_client.get(reverse("portal:resource-search"))
    assert response.status_code == 302 and response["Location"] == NEW


def test_request_form_is_csrf_protected(requester):
    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    assert client.post(NEW, {"action": "submit", "roles": ["db-admin"]}).status_code == 403
    assert not AccessRequest.objects.exists()
