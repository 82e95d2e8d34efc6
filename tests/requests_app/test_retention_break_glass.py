"""The retention purge and break-glass verdicts: a use still awaiting its verdict keeps its
reasons for whoever judges it; a verdict's reason is purged like every other reason (its
column and its audit event), once it is older than the period; and the chain verifies
throughout (a purged value is always covered by a later `retention.purged`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accessctl import chain
from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.break_glass_models import BreakGlass
from requests_app.models import AccessRequest
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from requests_app.services.retention import retention_purge
from tests.policies import BREAK_GLASS

# The story happens in the past: PostgreSQL's audit trigger asks its own clock whether the
# request's access has ended, and time_machine moves only Python's.
START = timezone.now() - timedelta(days=100)


@pytest.fixture
def glass(base_policy, apply_yaml, requester):
    apply_yaml(BREAK_GLASS)
    with time_machine.travel(START):
        return break_glass_open(
            requester=requester, roles=["db-admin"], reason="INC-42 database down",
            max_duration="4h",
        )  # fmt: skip


def test_a_use_awaiting_its_verdict_keeps_its_reasons_and_a_late_verdict_is_purged_later(
    glass, reviewer
):
    start = START
    with time_machine.travel(start + timedelta(days=40)):
        assert retention_purge(days=30).purged == 0  # the judge still needs the reason
        assert AccessRequest.objects.get(pk=glass.pk).reason == "INC-42 database down"
        break_glass_decide(
            request_id=glass.pk, reviewer=reviewer, verdict="reject", reason="no incident"
        )
        # Finished 40 days ago, judged now: the request's own reasons go, the verdict stays
        # (its event is newer than the cutoff), and the chain verifies.
        counts = retention_purge(days=30)
        assert counts.request_reasons >= 1 and counts.break_glass_reasons == 0
        assert BreakGlass.objects.get(pk=glass.pk).decision_reason == "no incident"
        assert audit_verify().ok
    with time_machine.travel(start + timedelta(days=80)):
        counts = retention_purge(days=30)
        assert counts.break_glass_reasons == 1
        verdict = BreakGlass.objects.get(pk=glass.pk)
        assert verdict.decision_reason == chain.text_purged("no incident")
        events = AuditEvent.objects.filter(target_id=str(glass.pk))
        assert "no incident" not in str(list(events.values_list("data", flat=True)))
        report = audit_verify()
        assert report.ok, report.problem
