"""Grants in admin: active and past access, filters, and Revoke with a required reason."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit

GRANTS = reverse("admin:requests_app_grant_changelist")


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def approve(make_request, user):
    def _approve(roles=(), resources=(), **kwargs):
        request = make_request(list(roles), resources=list(resources), **kwargs)
        review_submit(request_id=request.id, reviewer=user("carol"), state="APPROVED", reason="ok")
        request.refresh_from_db()
        return request

    return _approve


@pytest.fixture
def history(approve, requester):
    """alice: an ended grant, a revoked one, an active role and an active resource grant."""
    with time_machine.travel(timezone.now() - datetime.timedelta(days=2)):
        ended = approve(["dev-admin"], max_duration="1h")
    revoked = approve(["reviewer"])
    access_request_revoke(request_id=revoked.id, actor=requester, reason="done early")
    active = approve(["db-admin"])
    node = approve(resources=["node/db-prod-1"])
    return {"ended": ended, "revoked": revoked, "active": active, "node": node}


def listed(response) -> set[str]:
    return {g.target for g in response.context["cl"].result_list}


def test_grants_list_shows_active_and_past_access(login, history):
    response = login("bob").get(GRANTS)
    assert listed(response) == {"dev-admin", "reviewer", "db-admin", "node/db-prod-1"}
    page = response.content.decode()
    for state in ("active", "ended", "revoked"):
        assert f">{state}</span>" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=active", {"db-admin", "node/db-prod-1"}),
        ("state=ended", {"dev-admin"}),
        ("state=revoked", {"reviewer"}),
        ("role=db-admin", {"db-admin"}),
        ("resource=node/db-prod-1", {"node/db-prod-1"}),
        ("user=alice", {"dev-admin", "reviewer", "db-admin", "node/db-prod-1"}),
        ("user=bob", set()),
    ],
)
def test_grants_filter_by_state_user_role_resource(login, history, query, expected):
    assert listed(login("bob").get(f"{GRANTS}?{query}")) == expected


def test_scheduled_grants_are_listed_as_scheduled(login, approve):
    approve(["db-admin"], assume_start_time=timezone.now() + datetime.timedelta(days=1))
    assert listed(login("bob").get(f"{GRANTS}?state=scheduled")) == {"db-admin"}


def test_grants_of_requests_the_user_cannot_see_are_not_listed(login, history):
    client = login("mallory")
    assert listed(client.get(GRANTS)) == set()
    grant = Grant.objects.get(role="db-admin")
    url = reverse("admin:requests_app_grant_change", args=[grant.pk])
    assert client.get(url).status_code == 404


def revoke(client, grants, reason=None):
    data = {"action": "revoke_selected", ACTION_CHECKBOX_NAME: [g.pk for g in grants]}
    if reason is None:
        return client.post(GRANTS, {**data, "index": 0})
    return client.post(GRANTS, {**data, "post": "yes", "reason": reason})


def test_revoke_action_asks_for_a_reason_first(login, history):
    grant = Grant.objects.get(role="db-admin")
    client = login("bob")
    page = revoke(client, [grant])
    assert page.status_code == 200 and "Revoke with a reason" in page.content.decode()
    empty = revoke(client, [grant], reason="  ")
    assert empty.status_code == 400
    assert "A reason is required to revoke access." in empty.content.decode()
    history["active"].refresh_from_db()
    assert history["active"].state == RequestState.APPROVED


def test_revoke_action_ends_access_through_the_service(login, history):
    grants = [Grant.objects.get(role="db-admin"), Grant.objects.get(resource="node/db-prod-1")]
    response = revoke(login("bob"), grants, reason="incident closed")
    assert response.status_code == 302
    said = messages_of(response)
    assert "alice → db-admin: access revoked." in said
    assert "alice → node/db-prod-1: access revoked." in said
    for key in ("active", "node"):
        history[key].refresh_from_db()
        assert history[key].state == RequestState.REVOKED
        assert history[key].revoke_reason == "incident closed"
    assert AuditEvent.objects.filter(action="request.revoked", actor_name="bob").count() == 2


def test_an_auditor_is_not_offered_revoke_and_cannot_run_it(login, history):
    """erin sees every grant (view_accessrequest) but may revoke none: the action is not
    offered, and a hand-made POST of it does nothing."""
    client = login("erin")
    listing = client.get(reverse("admin:requests_app_grant_changelist")).content.decode()
    assert "alice" in listing and "revoke_selected" not in listing
    grants = [Grant.objects.get(role="db-admin"), Grant.objects.get(role="reviewer")]
    events = AuditEvent.objects.count()
    revoke(client, grants, reason="audit finding")
    history["active"].refresh_from_db()
    assert history["active"].state == RequestState.APPROVED
    assert AuditEvent.objects.count() == events


def test_revoking_already_revoked_access_is_reported(login, history):
    response = revoke(login("bob"), [Grant.objects.get(role="reviewer")], reason="again")
    assert any(
        m.startswith("alice → reviewer: not revoked: only approved access can be revoked")
        for m in messages_of(response)
    )


def test_desk_states_of_grants_agree_on_every_surface_at_the_edges(root_client, requester):
    """The list filter, the list's badge and the request page name each grant's state the
    same way (`Grant.status_at`, built on `open_at`), at a start or an end exactly now."""
    from tests.requests_app.test_querysets import EDGES, T, _grant, _request

    made = {}
    for name, window in EDGES.items():
        if window[2] is None or window[2] <= T:  # revocations are never in the future
            made[_grant(_request(requester), *window, role=name[:100]).pk] = name
    with time_machine.travel(T, tick=False):
        by_filter = {
            state: {
                g.role for g in root_client.get(f"{GRANTS}?state={state}").context["cl"].result_list
            }
            for state in ("active", "scheduled", "ended", "revoked")
        }
        pages = {
            grant.role: root_client.get(
                reverse("admin:requests_app_accessrequest_change", args=[grant.request_id])
            ).content.decode()
            for grant in Grant.objects.filter(pk__in=made)
        }
    for grant in Grant.objects.filter(pk__in=made):
        state = grant.status_at(T)
        assert grant.role in by_filter[state], (grant.role, state, by_filter)
        assert sum(grant.role in roles for roles in by_filter.values()) == 1, grant.role
        assert f"<td>{state}</td>" in pages[grant.role], grant.role
    assert {
        made[g.pk] for g in Grant.objects.filter(pk__in=made) if g.status_at(T) == "active"
    } == {
        "starts_at_t",
        "expires_after_t",
    }


def test_an_auditor_whose_own_access_ended_is_not_offered_revoke(login, approve, apply_yaml, user):
    """Only access still to end makes Revoke worth offering: an expired grant, never revoked,
    is not live access (`services.grants.may_revoke_any`)."""
    apply_yaml("kind: user\nname: erin\nroles: [auditor, engineer]\n")
    erin = user("erin")
    with time_machine.travel(timezone.now() - datetime.timedelta(days=2)):
        approve(["dev-admin"], max_duration="1h", by=erin)
    assert Grant.objects.filter(user=erin, revoked_at=None).exists()  # expired, not revoked
    client = login("erin")
    assert "revoke_selected" not in client.get(GRANTS).content.decode()
    approve(["db-admin"], by=erin)  # access of her own now: she may end it
    assert "revoke_selected" in client.get(GRANTS).content.decode()
