"""Extensions: a linked request, reviewed like any other, continuing access without a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import Conflict, NotAllowed, NotPending, ValidationFailed
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke
from requests_app.services.resolution import access_request_withdraw
from requests_app.services.reviews import review_submit
from tests.policies import engineer_requests

T0 = "2026-04-01 09:00Z"


def _approved(requester, reviewer, **kwargs):
    request = access_request_create(requester=requester, roles=["db-admin"], **kwargs)
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


def test_extension_is_a_pending_request_linked_to_the_access_it_extends(requester, reviewer):
    original = _approved(requester, reviewer, max_duration="2h")
    extension = access_request_extend(
        requester=requester, request_id=original.id, reason="INC-9 still open", max_duration="1h"
    )
    stored = AccessRequest.objects.get(pk=extension.id)
    assert stored.state == RequestState.PENDING
    assert stored.extends_id == original.id and list(original.extensions.all()) == [stored]
    assert stored.roles == ["db-admin"] and stored.max_duration == 3600
    event = AuditEvent.objects.filter(action="request.created").last()
    assert event.data["extends"] == str(original.id) and event.target_id == str(extension.id)


def test_approved_extension_starts_when_the_old_access_ends(requester, reviewer, user):
    with time_machine.travel(T0, tick=False):
        original = _approved(requester, reviewer, max_duration="2h")
        extension = access_request_extend(
            requester=requester, request_id=original.id, max_duration="3h"
        )
    with time_machine.travel("2026-04-01 10:00Z", tick=False):
        extension = review_submit(
            request_id=extension.id, reviewer=user("carol"), state="APPROVED", reason="fine"
        )
    assert extension.access_starts == original.access_expires
    assert extension.access_expires == original.access_expires + timedelta(hours=3)
    grant = Grant.objects.get(request=extension)
    assert (grant.starts, grant.expires) == (extension.access_starts, extension.access_expires)
    # No gap: access holds across the old expiry, and ends with the extension.
    for at in (original.access_expires - timedelta(seconds=1), original.access_expires):
        assert access_check(user=requester, role="db-admin", at=at).allowed
    end = extension.access_expires
    assert access_check(user=requester, role="db-admin", at=end - timedelta(seconds=1)).allowed
    assert not access_check(user=requester, role="db-admin", at=end).allowed


def test_extension_approved_after_the_old_access_ended_starts_now(requester, reviewer, user):
    with time_machine.travel(T0, tick=False):
        original = _approved(requester, reviewer, max_duration="1h")
        extension = access_request_extend(requester=requester, request_id=original.id)
    with time_machine.travel("2026-04-01 11:00Z", tick=False):
        extension = review_submit(
            request_id=extension.id, reviewer=user("carol"), state="APPROVED", reason="ok"
        )
    assert extension.access_starts == datetime(2026, 4, 1, 11, tzinfo=UTC)
    assert extension.access_starts > original.access_expires


def test_revoking_access_closes_its_pending_extension(requester, reviewer, user):
    """Revoked access cannot come back through an extension asked for before the revocation
    (as it could not be extended after it): the extension is closed, its approval refused."""
    original = _approved(requester, reviewer, max_duration="4h")
    extension = access_request_extend(requester=requester, request_id=original.id)
    access_request_revoke(request_id=original.id, actor=requester, reason="done")

    extension.refresh_from_db()
    assert extension.state == RequestState.WITHDRAWN  # the requester ended their own access
    assert extension.resolve_reason == "done" and extension.resolved_by == requester
    with pytest.raises(NotPending):
        review_submit(request_id=extension.id, reviewer=user("carol"), state="APPROVED")
    assert not access_check(user=requester, role="db-admin").allowed


def test_revocation_by_someone_else_denies_a_pending_extension(requester, reviewer, user):
    original = _approved(requester, reviewer)
    extension = access_request_extend(requester=requester, request_id=original.id)
    access_request_revoke(request_id=original.id, actor=user("carol"), reason="incident over")

    extension.refresh_from_db()
    assert extension.state == RequestState.DENIED and extension.resolved_by == user("carol")
    event = AuditEvent.objects.get(action="request.denied", target_id=str(extension.id))
    assert event.data["with"] == str(original.id) and event.data["reason"] == "incident over"


def test_revoking_access_revokes_the_approved_extensions_that_continue_it(
    requester, reviewer, user
):
    """An approved extension starts when the old access ends: without this it would give
    the revoked access back at that moment. Down the whole chain."""
    carol = user("carol")
    with time_machine.travel(T0, tick=False):
        first = _approved(requester, reviewer, max_duration="1h")
        second = access_request_extend(requester=requester, request_id=first.id)
        second = review_submit(request_id=second.id, reviewer=carol, state="APPROVED")
        third = access_request_extend(requester=requester, request_id=second.id)
        third = review_submit(request_id=third.id, reviewer=carol, state="APPROVED")
        fourth = access_request_extend(requester=requester, request_id=third.id)
    with time_machine.travel("2026-04-01 09:30Z", tick=False):
        access_request_revoke(request_id=first.id, actor=reviewer, reason="incident over")
    states = {
        r.id: r.state for r in AccessRequest.objects.filter(pk__in=[second.id, third.id, fourth.id])
    }
    assert states == {
        second.id: RequestState.REVOKED,
        third.id: RequestState.REVOKED,
        fourth.id: RequestState.DENIED,
    }
    for at in (first.access_expires, second.access_expires, third.access_expires):
        assert not access_check(user=requester, role="db-admin", at=at).allowed
    assert not Grant.objects.filter(request__in=[first, second, third], revoked_at=None).exists()
    revoked = AuditEvent.objects.filter(action="request.revoked").order_by("seq")
    assert [e.target_id for e in revoked] == [str(first.id), str(second.id), str(third.id)]
    assert {e.actor_name for e in revoked} == {"bob"}


def test_someone_elses_access_cannot_be_extended(requester, reviewer, user):
    original = _approved(requester, reviewer)
    with pytest.raises(NotAllowed, match="only the requester may extend their access"):
        access_request_extend(requester=user("carol"), request_id=original.id)
    assert not AccessRequest.objects.filter(extends=original).exists()


@pytest.mark.parametrize("end", ["pending", "denied", "revoked", "expired"])
def test_only_approved_access_that_has_not_ended_can_be_extended(end, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        if end == "pending":
            request = access_request_create(requester=requester, roles=["db-admin"])
        elif end == "denied":
            request = access_request_create(requester=requester, roles=["db-admin"])
            review_submit(request_id=request.id, reviewer=reviewer, state="DENIED", reason="no")
        else:
            request = _approved(requester, reviewer, max_duration="1h")
            if end == "revoked":
                access_request_revoke(request_id=request.id, actor=requester, reason="done")
    later = "2026-04-01 09:30Z" if end != "expired" else "2026-04-01 10:00Z"
    with time_machine.travel(later), pytest.raises(Conflict):
        access_request_extend(requester=requester, request_id=request.id)


def test_a_second_pending_extension_is_refused_until_the_first_ends(requester, reviewer):
    original = _approved(requester, reviewer)
    first = access_request_extend(requester=requester, request_id=original.id)
    with pytest.raises(Conflict, match="already waiting"):
        access_request_extend(requester=requester, request_id=original.id)
    access_request_withdraw(request_id=first.id, actor=requester)
    assert access_request_extend(requester=requester, request_id=original.id).extends == original


def test_extension_follows_todays_policy_reason_and_caps(requester, reviewer, apply_yaml):
    original = _approved(requester, reviewer)
    apply_yaml(engineer_requests("max_duration: 2h", 'reason: {mode: required, prompt: "Ticket?"}'))
    with pytest.raises(ValidationFailed, match="Ticket"):
        access_request_extend(requester=requester, request_id=original.id)
    extension = access_request_extend(
        requester=requester, request_id=original.id, reason="INC-1", max_duration="1d"
    )
    assert extension.max_duration == 2 * 3600
    access_request_withdraw(request_id=extension.id, actor=requester)
    apply_yaml(
        """
kind: role
name: engineer
spec:
  deny:
    request: {roles: [db-admin]}
"""
    )
    with pytest.raises(NotAllowed):
        access_request_extend(requester=requester, request_id=original.id, reason="x")


def test_dry_run_extension_stores_nothing(requester, reviewer):
    original = _approved(requester, reviewer)
    before = AuditEvent.objects.count()
    preview = access_request_extend(requester=requester, request_id=original.id, dry_run=True)
    assert preview.extends == original and preview.pk is not None
    assert not AccessRequest.objects.filter(extends=original).exists()
    assert AuditEvent.objects.count() == before


def test_extension_chain_continues_from_the_latest_access(requester, reviewer, user):
    carol = user("carol")
    with time_machine.travel(T0, tick=False):
        first = _approved(requester, reviewer, max_duration="1h")
        second = access_request_extend(requester=requester, request_id=first.id, max_duration="1h")
        second = review_submit(request_id=second.id, reviewer=carol, state="APPROVED", reason="")
        third = access_request_extend(requester=requester, request_id=second.id, max_duration="1h")
        third = review_submit(request_id=third.id, reviewer=carol, state="APPROVED", reason="")
    assert third.access_starts == second.access_expires == first.access_expires + timedelta(hours=1)
