"""The desk's break-glass uses: the "Awaiting my ratification" queue, Ratify and Reject with
a reason through `break_glass_decide`, the requester flagged once rejected."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accessportal.kernel.choices import RequestState
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.services.break_glass import break_glass_open
from tests.policies import BREAK_GLASS

CHANGELIST = "/admin/requests_app/breakglass/"


@pytest.fixture
def glass_use(base_policy, apply_yaml, requester):
    apply_yaml(BREAK_GLASS)
    return break_glass_open(requester=requester, roles=["db-admin"], reason="INC-5 db down")


def test_reviewer_sees_the_awaiting_queue(login, glass_use):
    page = login("bob").get(CHANGELIST, {"ratification": "mine"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Awaiting my ratification" in body and "INC-5 db down" in body
    assert "awaiting ratification" in body


def test_requester_sees_their_use_but_not_in_their_queue(login, glass_use):
    client = login("alice")
    assert "INC-5 db down" in client.get(CHANGELIST).content.decode()
    assert "INC-5 db down" not in client.get(CHANGELIST, {"ratification": "mine"}).content.decode()


def test_outsider_sees_nothing(login, glass_use):
    assert "INC-5 db down" not in login("mallory").get(CHANGELIST).content.decode()


def _act(client, action: str, glass_use, reason: str | None):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(glass_use.pk)]}
    if reason is not None:
        data.update(post="yes", reason=reason)
    return client.post(CHANGELIST, data)


def test_ratify_asks_for_a_reason_then_ratifies(login, glass_use):
    client = login("bob")
    confirm = _act(client, "ratify_selected", glass_use, None)
    assert confirm.status_code == 200 and "Ratify with a reason" in confirm.content.decode()
    refused = _act(client, "ratify_selected", glass_use, "")
    assert refused.status_code == 400
    assert BreakGlass.objects.get().state == Ratification.AWAITING
    done = _act(client, "ratify_selected", glass_use, "INC-5 is real")
    assert done.status_code == 302
    glass = BreakGlass.objects.get()
    assert glass.state == Ratification.RATIFIED and glass.decided_by.username == "bob"


def test_reject_revokes_and_the_list_flags_the_requester(login, glass_use):
    client = login("bob")
    assert _act(client, "reject_selected", glass_use, "no incident").status_code == 302
    glass_use.refresh_from_db()
    assert glass_use.state == RequestState.REVOKED
    page = client.get(CHANGELIST, {"ratification": "rejected"}).content.decode()
    assert "flagged" in page


def test_requester_cannot_ratify_their_own_from_the_desk(login, glass_use, staff):
    client = login("alice")
    # alice reviews nothing: the actions are not offered to her at all.
    assert "ratify_selected" not in client.get(CHANGELIST).content.decode()
    _act(client, "ratify_selected", glass_use, "me")
    assert BreakGlass.objects.get().state == Ratification.AWAITING


def test_request_page_shows_the_break_glass_status(login, glass_use):
    page = login("bob").get(f"/admin/requests_app/accessrequest/{glass_use.pk}/change/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "Break-glass access" in body and "awaiting ratification" in body
    assert "?ratification=mine" in body
