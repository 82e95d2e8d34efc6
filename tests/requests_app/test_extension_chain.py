"""An approved extension takes over where the access it continues ends: nobody is told
their access ended (or is ending) while it goes on, and the access check answers with the
end of the whole chain of approved access, not of the grant open now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant, OutboxMessage
from requests_app.selectors.access import access_check, access_check_by_name
from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke, grants_end_due
from requests_app.services.reminders import grants_warn_ending
from requests_app.services.reviews import review_submit
from tests.requests_app.clock import T0, H, at


def _approve(request, reviewer):
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


@pytest.fixture
def chain(requester, reviewer, user):
    """alice's db-admin and node/db-prod-1 09:00-10:00, extended (approved at 09:30) to 12:00."""
    with at(T0):
        first = _approve(
            access_request_create(
                requester=requester,
                roles=["db-admin"],
                resources=["node/db-prod-1"],
                max_duration="1h",
            ),
            reviewer,
        )
    with at(T0 + H / 2):
        second = access_request_extend(requester=requester, request_id=first.id, max_duration="2h")
        second = _approve(second, user("carol"))
    assert (second.access_starts, second.access_expires) == (T0 + H, T0 + 3 * H)
    return first, second


def _ended_notices(request) -> int:
    return OutboxMessage.objects.filter(event="access.ended", request=request).count()


def test_access_taken_over_by_an_extension_is_not_announced_as_ended(chain):
    first, second = chain
    with at(T0 + H + timedelta(seconds=1)):
        assert grants_end_due() == 2
    # The first grants did end (recorded), but the access goes on: no "your access ended".
    assert AuditEvent.objects.filter(action="grant.ended").count() == 2
    assert set(Grant.objects.filter(request=first).values_list("ended_at", flat=True)) != {None}
    assert _ended_notices(first) == 0
    with at(T0 + 3 * H + timedelta(seconds=1)):
        assert grants_end_due() == 2
    assert _ended_notices(second) == 1


def test_access_not_taken_over_is_announced_as_ended(requester, reviewer, user):
    with at(T0):
        first = _approve(
            access_request_create(requester=requester, roles=["db-admin"], max_duration="1h"),
            reviewer,
        )
        access_request_extend(requester=requester, request_id=first.id)  # still pending
    with at(T0 + H + timedelta(seconds=1)):
        grants_end_due()
    assert _ended_notices(first) == 1


def test_no_ending_soon_warning_for_access_an_extension_continues(chain):
    first, second = chain
    with at(T0 + H - timedelta(minutes=10)):
        assert grants_warn_ending() == 0
    assert not OutboxMessage.objects.filter(event="access.ending_soon").exists()
    with at(T0 + 3 * H - timedelta(minutes=10)):
        assert grants_warn_ending() == 2
    assert OutboxMessage.objects.get(event="access.ending_soon").request_id == second.id


def test_access_check_reports_the_end_of_the_whole_chain(chain, requester):
    moment = T0 + H / 2 + timedelta(minutes=1)
    for item in ({"role": "db-admin"}, {"resource": "node/db-prod-1"}):
        decision = access_check(user=requester, at=moment, **item)
        assert decision.allowed and decision.expires == T0 + 3 * H, item
        by_name = access_check_by_name(username="alice", at=moment, **item)
        assert by_name.expires == T0 + 3 * H
    # The granted role reaches its resources (db/billing) until the chain ends too.
    assert access_check(user=requester, resource="db/billing", at=moment).expires == T0 + 3 * H


def test_api_access_check_reports_the_end_of_the_whole_chain(chain, requester):
    token, _ = Token.objects.get_or_create(user=requester)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with at(T0 + H / 2 + timedelta(minutes=1)):
        response = client.get("/api/v1/access/check/", {"user": "alice", "role": "db-admin"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["allowed"], body["expires"]) == (True, "2026-04-01T12:00:00Z")


def test_a_revoked_extension_no_longer_continues_the_chain(chain, requester):
    first, second = chain
    with at(T0 + H / 2 + timedelta(minutes=5)):
        access_request_revoke(request_id=second.id, actor=requester, reason="done early")
        decision = access_check(user=requester, role="db-admin")
    assert decision.allowed and decision.expires == T0 + H
    with at(T0 + H + timedelta(seconds=1)):
        grants_end_due()
    assert _ended_notices(first) == 1
