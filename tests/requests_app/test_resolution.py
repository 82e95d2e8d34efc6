"""Direct resolution, withdrawal, pending expiry and revocation."""

from __future__ import annotations

import pytest
import time_machine

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import (
    Conflict,
    NotAllowed,
    NotPending,
    SelfReviewRefused,
    ValidationFailed,
)
from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke, grants_end_due
from requests_app.services.resolution import (
    access_request_resolve,
    access_request_withdraw,
    access_requests_expire_due,
)
from requests_app.services.reviews import review_submit

RESOLVER = """
kind: role
name: resolver
spec:
  allow:
    permissions: [requests_app.resolve_accessrequest, requests_app.revoke_grant]
---
kind: user
name: rita
roles: [resolver]
"""


@pytest.fixture
def rita(apply_yaml, base_policy, user):
    apply_yaml(RESOLVER)
    return user("rita")


def test_direct_approval_needs_the_permission(requester, outsider, rita):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(NotAllowed):
        access_request_resolve(request_id=request.id, actor=outsider, state="APPROVED", reason="x")
    request = access_request_resolve(
        request_id=request.id, actor=rita, state="APPROVED", reason="incident"
    )
    assert request.state == RequestState.APPROVED and request.grants.count() == 1
    assert AuditEvent.objects.filter(action="request.approved", actor_name="rita").exists()


def test_direct_resolution_requires_a_reason(requester, rita):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(ValidationFailed, match="reason"):
        access_request_resolve(request_id=request.id, actor=rita, state="DENIED", reason=" ")


def test_nobody_resolves_their_own_request_not_even_a_superuser(admin, apply_yaml):
    apply_yaml("kind: user\nname: root\nroles: [engineer]\n")
    request = access_request_create(requester=admin, roles=["db-admin"])
    with pytest.raises(SelfReviewRefused):
        access_request_resolve(request_id=request.id, actor=admin, state="APPROVED", reason="me")


def test_superuser_may_resolve_others_directly(requester, admin):
    request = access_request_create(requester=requester, roles=["db-admin"])
    resolved = access_request_resolve(
        request_id=request.id, actor=admin, state="DENIED", reason="no"
    )
    assert resolved.state == RequestState.DENIED and resolved.resolve_reason == "no"


def test_requester_withdraws_pending_request(requester, outsider):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(NotAllowed):
        access_request_withdraw(request_id=request.id, actor=outsider)
    assert access_request_withdraw(request_id=request.id, actor=requester).state == "WITHDRAWN"
    with pytest.raises(NotPending):
        access_request_withdraw(request_id=request.id, actor=requester)


def test_pending_requests_expire_at_their_ttl(requester):
    request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
    with time_machine.travel(request.expires, tick=False):
        assert access_requests_expire_due() == 1
        assert access_requests_expire_due() == 0  # idempotent
    request.refresh_from_db()
    assert request.state == RequestState.EXPIRED
    assert OutboxMessage.objects.filter(event="request.expired").count() == 1


def test_requester_ends_own_access_early(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    with pytest.raises(ValidationFailed):
        access_request_revoke(request_id=request.id, actor=requester, reason="")
    revoked = access_request_revoke(request_id=request.id, actor=requester, reason="done")
    assert revoked.state == RequestState.REVOKED
    assert Grant.objects.get(request=request).revoked_at is not None
    with pytest.raises(Conflict):
        access_request_revoke(request_id=request.id, actor=requester, reason="again")


def test_eligible_reviewer_and_revoke_permission_holders_may_revoke(
    requester, reviewer, second_reviewer, rita, outsider
):
    first = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=first.id, reviewer=reviewer, state="APPROVED")
    with pytest.raises(NotAllowed):
        access_request_revoke(request_id=first.id, actor=outsider, reason="mine now")
    assert (
        access_request_revoke(request_id=first.id, actor=second_reviewer, reason="x").state
        == "REVOKED"
    )
    second = access_request_create(requester=requester, roles=["dev-admin"])
    review_submit(request_id=second.id, reviewer=reviewer, state="APPROVED")
    assert (
        access_request_revoke(request_id=second.id, actor=rita, reason="policy").state == "REVOKED"
    )


def test_pending_request_cannot_be_revoked(requester):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(Conflict, match="only approved"):
        access_request_revoke(request_id=request.id, actor=requester, reason="x")


def test_ended_grants_are_recorded_once(requester, reviewer):
    request = access_request_create(
        requester=requester, roles=["db-admin", "dev-admin"], max_duration="1h"
    )
    request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    with time_machine.travel(request.access_expires, tick=False):
        assert grants_end_due() == 2
        assert grants_end_due() == 0
    assert AuditEvent.objects.filter(action="grant.ended").count() == 2
    assert OutboxMessage.objects.filter(event="access.ended").count() == 1


def test_unknown_request_id_is_not_found(requester):
    from accessportal.kernel.errors import NotFound

    with pytest.raises(NotFound):
        access_request_withdraw(request_id="not-a-uuid", actor=requester)
    with pytest.raises(NotFound):
        access_request_withdraw(request_id="00000000-0000-0000-0000-000000000000", actor=requester)
