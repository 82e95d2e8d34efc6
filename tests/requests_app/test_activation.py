"""Scheduled access: at its start a worker re-checks policy; what the requester may no
longer have is refused with an audited reason, never started."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app import tasks
from requests_app.models import Grant, OutboxMessage
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.policies import SEARCH_PROD, engineer_requests

T0 = "2026-03-02 09:00Z"

ENGINEER_WITHOUT_DB_ADMIN = engineer_requests(SEARCH_PROD, roles="[dev-admin, reviewer]")


@pytest.fixture
def scheduled(requester, reviewer):
    """alice's request for db-admin and dev-admin, approved, starting two hours later."""

    def _make(roles=("db-admin", "dev-admin"), resources=()):
        start = timezone.now() + timedelta(hours=2)
        request = access_request_create(
            requester=requester,
            roles=list(roles),
            resources=list(resources),
            assume_start_time=start,
            max_duration="1h",
        )
        return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")

    return _make


def test_access_the_policy_no_longer_allows_is_refused_at_its_start(
    scheduled, apply_yaml, requester
):
    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled()
        apply_yaml(ENGINEER_WITHOUT_DB_ADMIN)  # db-admin may no longer be requested
        clock.shift(timedelta(hours=2))
        assert tasks.activate_due_grants.delay().get() == 2
        assert tasks.activate_due_grants.delay().get() == 0
        assert not access_check(user=requester, role="db-admin").allowed
        assert access_check(user=requester, role="dev-admin").allowed
    grants = {g.role: g for g in Grant.objects.filter(request=request)}
    assert grants["db-admin"].revoked_at is not None and grants["db-admin"].activated_at is None
    assert grants["dev-admin"].activated_at is not None and grants["dev-admin"].revoked_at is None
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED  # part of it still stands
    refusal = AuditEvent.objects.get(action="grant.activation_refused")
    assert "no longer allow requesting the role 'db-admin'" in refusal.data["reason"]
    refused = OutboxMessage.objects.get(event="access.refused")
    assert refused.recipients == ["alice"] and list(refused.payload["refused"]) == ["db-admin"]
    assert OutboxMessage.objects.get(event="access.started").payload["started"] == ["dev-admin"]


def test_request_left_with_nothing_is_revoked_by_the_system(scheduled, apply_yaml):
    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled(roles=["db-admin"])
        apply_yaml(ENGINEER_WITHOUT_DB_ADMIN)
        clock.shift(timedelta(hours=2, minutes=5))
        assert tasks.activate_request_grants.delay(str(request.id)).get() == 1
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED and request.revoked_by is None
    assert request.revoke_reason.startswith("policy changed before the access started")
    event = AuditEvent.objects.get(action="request.revoked")
    assert event.actor_name == "system"
    assert not OutboxMessage.objects.filter(event="access.started").exists()


def test_disabled_account_gets_no_scheduled_access(scheduled, requester):
    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled(roles=["db-admin"])
        requester.is_active = False
        requester.save(update_fields=["is_active"])
        clock.shift(timedelta(hours=2))
        tasks.activate_due_grants.delay().get()
    assert (
        "account is disabled"
        in AuditEvent.objects.get(action="grant.activation_refused").data["reason"]
    )
    assert Grant.objects.get(request=request).revoked_at is not None


def test_resource_that_disappeared_is_refused(scheduled, apply_yaml):
    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled(roles=[], resources=["node/db-prod-1"])
        from policies_app.models import Resource

        Resource.objects.filter(kind="node", name="db-prod-1").delete()
        clock.shift(timedelta(hours=2))
        tasks.activate_due_grants.delay().get()
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED
    assert "no longer exists" in request.revoke_reason


def test_allowed_scheduled_access_starts_and_is_audited(scheduled, requester):
    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled(resources=["node/db-prod-1"])
        assert not access_check(user=requester, resource="node/db-prod-1").allowed
        clock.shift(timedelta(hours=2))
        assert tasks.activate_due_grants.delay().get() == 3
        assert access_check(user=requester, resource="node/db-prod-1").allowed
    assert AuditEvent.objects.filter(action="grant.activated").count() == 3
    assert not Grant.objects.filter(request=request, activated_at=None).exists()


def test_revoked_before_its_start_is_never_activated(scheduled, requester):
    from requests_app.services.grants import access_request_revoke

    with time_machine.travel(T0, tick=False) as clock:
        request = scheduled()
        access_request_revoke(request_id=request.id, actor=requester, reason="not needed")
        clock.shift(timedelta(hours=2))
        assert tasks.activate_due_grants.delay().get() == 0
        assert tasks.activate_request_grants.delay(str(request.id)).get() == 0
    assert not OutboxMessage.objects.filter(event__in=["access.started", "access.refused"]).exists()
