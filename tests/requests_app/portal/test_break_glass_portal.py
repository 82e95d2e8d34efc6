"""Break-glass in the portal: the request form's button (only where policy allows it), the
inbox's ratification queue with Ratify and Reject, and the request page's status."""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from tests.policies import BREAK_GLASS

NEW = reverse("portal:request-new")
INBOX = reverse("portal:inbox")


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def glass(base_policy, apply_yaml):
    apply_yaml(BREAK_GLASS)


@pytest.fixture
def glass_use(glass, requester):
    return break_glass_open(requester=requester, roles=["db-admin"], reason="INC-8 db down")


def test_form_offers_break_glass_and_says_what_it_does(glass, alice_client):
    page = text(alice_client.get(NEW))
    assert 'value="break_glass"' in page
    assert "For emergencies only, and only for db-admin" in page
    assert "ratify it within 1h" in page


def test_form_hides_break_glass_where_policy_does_not_allow_it(base_policy, alice_client):
    page = text(alice_client.get(NEW))
    assert "Request access" in page and 'value="break_glass"' not in page


def test_break_glass_from_the_form_grants_now(glass, alice_client):
    answer = alice_client.post(
        NEW, {"roles": ["db-admin"], "reason": "INC-8 db down", "action": "break_glass"}
    )
    request = AccessRequest.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("portal:request-detail", args=[request.pk])
    assert request.state == RequestState.APPROVED
    page = text(alice_client.get(answer["Location"]))
    assert "Break-glass access" in page and "Awaiting ratification" in page


def test_break_glass_for_an_item_without_it_is_refused_on_the_form(glass, alice_client):
    answer = alice_client.post(
        NEW, {"roles": ["dev-admin"], "reason": "INC-8", "action": "break_glass"}
    )
    assert answer.status_code == 403
    assert "break-glass is not allowed for dev-admin" in text(answer).lower()
    assert not AccessRequest.objects.exists()


def test_inbox_queue_and_ratify(glass_use, bob_client):
    page = text(bob_client.get(INBOX))
    assert "Break-glass access awaiting ratification" in page and "INC-8 db down" in page
    url = reverse("portal:request-ratify", args=[glass_use.pk])
    refused = bob_client.post(url, {"verdict": "ratify", "reason": ""})
    assert refused.status_code == 422 and "reason is required" in text(refused)
    done = bob_client.post(url, {"verdict": "ratify", "reason": "INC-8 is real"})
    assert done.status_code == 302
    assert BreakGlass.objects.get().state == Ratification.RATIFIED
    assert "awaiting ratification" not in text(bob_client.get(INBOX)).lower()


def test_reject_from_the_inbox(glass_use, bob_client):
    url = reverse("portal:request-ratify", args=[glass_use.pk])
    assert bob_client.post(url, {"verdict": "reject", "reason": "no incident"}).status_code == 302
    glass_use.refresh_from_db()
    assert glass_use.state == RequestState.REVOKED


def test_outsider_and_requester_cannot_ratify(glass_use, mallory_client, alice_client):
    url = reverse("portal:request-ratify", args=[glass_use.pk])
    assert mallory_client.post(url, {"verdict": "ratify", "reason": "x"}).status_code == 404
    own = alice_client.post(url, {"verdict": "ratify", "reason": "x"})
    assert own.status_code == 403
    assert BreakGlass.objects.get().state == Ratification.AWAITING


def test_a_use_awaiting_ratification_offers_no_extend(glass_use, alice_client, reviewer):
    detail = reverse("portal:request-detail", args=[glass_use.pk])
    assert "Extend this access" not in text(alice_client.get(detail))
    break_glass_decide(request_id=glass_use.id, reviewer=reviewer, verdict="ratify", reason="ok")
    assert "Extend this access" in text(alice_client.get(detail))
