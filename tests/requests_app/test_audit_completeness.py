"""`verify_audit` checks that every request and grant has the events its services write:
a row written around the services, or an event removed with the chain rebuilt, is reported
(exit 1) even when the hash chain itself verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from accessportal.kernel.audit import GENESIS, audit_verify, event_hash
from accessportal.kernel.models import AuditChainHead, AuditEvent
from requests_app.models import AccessRequest, Grant, Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.activation import grants_activate_due
from requests_app.services.audit_completeness import audit_completeness
from requests_app.services.grants import access_request_revoke, grants_end_due
from requests_app.services.reminders import grants_warn_ending
from requests_app.services.resolution import (
    access_request_resolve,
    access_request_withdraw,
    access_requests_expire_due,
)
from requests_app.services.reviews import review_submit
from tests.policies import SEARCH_PROD, engineer_requests

ENGINEER_WITHOUT_DEV_ADMIN = engineer_requests(SEARCH_PROD, roles="[db-admin, reviewer]")


@pytest.fixture
def lifecycle(requester, reviewer, second_reviewer, admin, apply_yaml):
    """Every path the services have: approved by reviews (then ended, warned first), approved
    directly, revoked, denied, withdrawn, expired, started later, refused at its start."""
    now = timezone.now()

    def create(roles, **kwargs):
        return access_request_create(requester=requester, roles=roles, reason="INC-9", **kwargs)

    ended = create(["db-admin"], max_duration="1h")
    review_submit(request_id=ended.id, reviewer=reviewer, state="APPROVED", reason="ok")
    direct = create(["dev-admin"])
    access_request_resolve(request_id=direct.id, actor=admin, state="APPROVED", reason="urgent")
    access_request_revoke(request_id=direct.id, actor=requester, reason="done")
    denied = create(["db-admin"], resources=["node/db-prod-1"])
    review_submit(request_id=denied.id, reviewer=second_reviewer, state="DENIED", reason="no")
    access_request_withdraw(request_id=create(["db-admin"]).id, actor=requester)
    create(["dev-admin"], request_ttl="1h")  # expires below
    later = create(["db-admin"], assume_start_time=now + timedelta(hours=2))
    review_submit(request_id=later.id, reviewer=reviewer, state="APPROVED", reason="ok")
    refused = create(["dev-admin"], assume_start_time=now + timedelta(hours=2))
    review_submit(request_id=refused.id, reviewer=reviewer, state="APPROVED", reason="ok")
    apply_yaml(ENGINEER_WITHOUT_DEV_ADMIN)

    assert grants_warn_ending(now=now + timedelta(minutes=50), lead=900) >= 1
    with time_machine.travel(now + timedelta(hours=2), tick=False):
        assert access_requests_expire_due() >= 1
    assert grants_activate_due(now=now + timedelta(hours=2, minutes=1)) >= 2
    assert grants_end_due(now=now + timedelta(hours=1, minutes=1)) >= 1
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "request.created", "review.submitted", "request.approved", "request.denied",
        "request.withdrawn", "request.expired", "request.revoked", "grant.ended",
        "grant.expiry_warned", "grant.activated", "grant.activation_refused",
    } <= actions  # fmt: skip
    return ended


def test_a_history_written_by_the_services_is_complete(lifecycle, capsys):
    report = audit_completeness(chunk_size=2)  # several pages
    assert report.missing == [] and report.requests == 7 and report.grants == 4
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert "7 request(s)" in out and "0 missing event(s)" in out


def test_rows_written_around_the_services_are_reported_with_exit_1(lifecycle, requester, admin):
    now = timezone.now()
    forged = AccessRequest.objects.create(
        user=requester, roles=["db-admin"], state="APPROVED", created=now, expires=now,
        requested_duration=3600, max_duration=3600, resolved_at=now,
    )  # fmt: skip
    grant = Grant.objects.create(
        request=forged, user=requester, role="db-admin", starts=now,
        expires=now + timedelta(hours=1), created=now, activated_at=now,
    )  # fmt: skip
    Review.objects.create(request=lifecycle, reviewer=admin, state="APPROVED", created=now)
    Grant.objects.filter(pk=grant.pk).update(ended_at=now + timedelta(hours=1))

    missing = {(m.target_id, m.action) for m in audit_completeness().missing}
    assert missing == {
        (str(forged.id), "request.created"),
        (str(forged.id), "request.approved"),
        (str(lifecycle.id), "review.submitted"),
        (str(grant.id), "grant.ended"),
    }
    with pytest.raises(CommandError, match=r"4 audit event\(s\) missing"):
        call_command("verify_audit")


def test_an_event_removed_with_the_chain_rebuilt_is_reported(lifecycle, audit_tampering):
    """The owner deletes an approval's event and re-hashes everything after it: the chain
    verifies, the request is left without its approval."""
    victim = AuditEvent.objects.get(action="request.approved", target_id=str(lifecycle.id))
    later = list(AuditEvent.objects.filter(seq__gt=victim.seq).order_by("seq"))
    AuditEvent.objects.filter(seq__gte=victim.seq).delete()
    prev = AuditEvent.objects.get(seq=victim.seq - 1).hash if victim.seq > 1 else GENESIS
    for seq, event in enumerate(later, victim.seq):
        event.pk, event.seq, event.prev_hash = None, seq, prev
        event.hash = prev = event_hash(event)
        event.save(force_insert=True)
    AuditChainHead.objects.filter(pk=1).update(seq=victim.seq + len(later) - 1, hash=prev)

    assert audit_verify().ok
    with pytest.raises(CommandError, match="missing") as refused:
        call_command("verify_audit")
    assert "chain BROKEN" not in str(refused.value)
    assert [(m.target_id, m.action) for m in audit_completeness().missing] == [
        (str(lifecycle.id), "request.approved")
    ]
