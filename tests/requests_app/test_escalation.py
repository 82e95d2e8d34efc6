"""Reminder and escalation tiers: a request left pending is brought back to its reviewers
after the first tier's time, escalated to the next tier's people and channels after its
own, each tier once, never after the request is resolved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from policies_app.documents.roles import export_role_spec, normalize_role
from requests_app.models import AccessRequest, OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.audit_completeness import audit_completeness
from requests_app.services.escalation import access_requests_remind_due
from requests_app.services.notifications import outbox_route
from requests_app.services.reviews import review_submit
from tests.concurrency import run_together
from tests.conftest import BASE_POLICY
from tests.policies import engineer_requests
from tests.requests_app.clock import T0, at

M = timedelta(minutes=1)

TIERS = engineer_requests(
    """
    reminders:
      - {after: 30m}
      - {after: 2h, notify: [oncall-lead, erin, "#sre"]}
    """,
    "thresholds: [{approve: 2, deny: 1}]",
)
ESCALATION = (
    TIERS
    + """
---
kind: role
name: oncall-lead
---
kind: user
name: dave
roles: [oncall-lead]
email: dave@example.com
---
kind: notification_rule
name: sre
spec:
  events: [access.revoked]          # the tier names it: its events do not matter then
  channels: [{type: slack, url: "http://127.0.0.1:9/sre"}]
"""
)


@pytest.fixture
def escalating(base_policy, apply_yaml):
    apply_yaml(ESCALATION)


def _create(requester):
    with at(T0):
        return access_request_create(requester=requester, roles=["db-admin"], reason="INC-7")


def _sweep(moment) -> int:
    with at(moment):
        return access_requests_remind_due()


def _reminders(request) -> list[OutboxMessage]:
    """The request's reminders, each routed when it was written (as a worker would)."""
    messages = list(OutboxMessage.objects.filter(request=request, event="request.reminder"))
    for message in messages:
        with at(message.created):
            outbox_route(message_id=message.pk)
    return sorted(
        OutboxMessage.objects.filter(request=request, event="request.reminder"),
        key=lambda m: m.payload["tier"],
    )


def test_tier_one_reminds_the_reviewers_at_its_time_and_tier_two_escalates_at_its_own(
    escalating, requester
):
    request = _create(requester)
    assert _sweep(T0 + 29 * M) == 0
    assert _sweep(T0 + 30 * M) == 1
    assert _sweep(T0 + 31 * M) == 0  # tier 1 once
    first = _reminders(request)
    assert [m.payload["tier"] for m in first] == [1]
    assert first[0].recipients == ["bob", "carol"]  # the eligible reviewers, not alice
    assert _sweep(T0 + 119 * M) == 0
    assert _sweep(T0 + 120 * M) == 1
    assert _sweep(T0 + 6 * 60 * M) == 0  # tier 2 once
    second = _reminders(request)[1]
    assert second.payload["tier"] == 2
    # oncall-lead's holders and erin by name; the "#sre" rule's channel as a delivery.
    assert second.recipients == ["dave", "erin"]
    assert "http://127.0.0.1:9/sre" in set(second.deliveries.values_list("target", flat=True))
    events = AuditEvent.objects.filter(action="request.reminded", target_id=str(request.id))
    # What docs/notifications.md says the event records: the tier, not its audience.
    assert [e.data for e in events.order_by("seq")] == [
        {"tier": 1, "after": 1800, "notify": []},
        {"tier": 2, "after": 7200, "notify": ["oncall-lead", "erin", "#sre"]},
    ]
    assert audit_verify().ok
    assert audit_completeness().missing == []


def test_a_reminder_written_around_the_services_is_reported_missing(escalating, requester):
    request = _create(requester)
    AccessRequest.objects.filter(pk=request.pk).update(reminders_sent=1)
    missing = [(m.target_id, m.action) for m in audit_completeness().missing]
    assert missing == [(str(request.id), "request.reminded")]


def test_reviewers_who_already_reviewed_are_not_reminded(escalating, requester, reviewer):
    request = _create(requester)
    with at(T0 + 5 * M):
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    assert _sweep(T0 + 30 * M) == 1
    assert _reminders(request)[0].recipients == ["carol"]


def test_no_reminder_once_the_request_is_resolved(escalating, requester, user):
    request = _create(requester)
    with at(T0 + 10 * M):
        for name in ("bob", "carol"):
            review_submit(request_id=request.id, reviewer=user(name), state="APPROVED", reason="ok")
    assert AccessRequest.objects.get(pk=request.pk).state == "APPROVED"
    assert _sweep(T0 + 3 * 60 * M) == 0
    assert not OutboxMessage.objects.filter(event="request.reminder").exists()


def test_a_reminder_routed_after_the_request_was_resolved_sends_nothing(
    escalating, requester, user
):
    # The sweep wrote both tiers; the worker is behind, and bob denies before it routes them.
    request = _create(requester)
    assert _sweep(T0 + 120 * M) == 2
    with at(T0 + 121 * M):
        review_submit(request_id=request.id, reviewer=user("bob"), state="DENIED", reason="no")
        for message in OutboxMessage.objects.filter(request=request, event="request.reminder"):
            assert outbox_route(message_id=message.pk)
    for message in OutboxMessage.objects.filter(request=request, event="request.reminder"):
        # No reviewer, no named user, no "#sre" channel: nobody is told it waits for review.
        assert message.recipients == []
        assert not message.deliveries.exists()
        assert message.state == "SENT"


def test_a_reminder_routed_after_the_pending_time_ran_out_sends_nothing(escalating, requester):
    with at(T0):
        request = access_request_create(
            requester=requester, roles=["db-admin"], reason="INC-7", request_ttl="1h"
        )
    assert _sweep(T0 + 30 * M) == 1
    (message,) = OutboxMessage.objects.filter(request=request, event="request.reminder")
    with at(T0 + 61 * M):  # routed late, the expiry sweep not run yet
        outbox_route(message_id=message.pk)
    message.refresh_from_db()
    assert message.recipients == [] and not message.deliveries.exists()


def test_a_notification_rule_can_subscribe_to_reminders(escalating, requester, apply_yaml):
    apply_yaml(
        """
        kind: notification_rule
        name: waiting
        spec:
          events: [request.reminder]
          condition: 'contains(request.roles, "db-admin")'
          channels: [{type: slack, url: "http://127.0.0.1:9/waiting"}]
        """
    )
    request = _create(requester)
    assert _sweep(T0 + 30 * M) == 1
    (tier_one,) = _reminders(request)
    assert "http://127.0.0.1:9/waiting" in set(tier_one.deliveries.values_list("target", flat=True))


def test_a_late_sweep_sends_every_tier_that_came_due_once(escalating, requester):
    request = _create(requester)
    assert _sweep(T0 + 3 * 60 * M) == 2
    assert _sweep(T0 + 4 * 60 * M) == 0
    assert [m.payload["tier"] for m in _reminders(request)] == [1, 2]


def test_no_reminder_after_the_pending_time_ran_out(escalating, requester):
    with at(T0):
        access_request_create(
            requester=requester, roles=["db-admin"], reason="INC-7", request_ttl="1h"
        )
    assert _sweep(T0 + 30 * M) == 1
    assert _sweep(T0 + 2 * 60 * M) == 0  # expired (even before the expiry sweep ran)


def test_tiers_are_snapshotted_when_the_request_is_made(escalating, requester, apply_yaml):
    request = _create(requester)
    apply_yaml(engineer_requests())  # the tiers are removed from the policy afterwards
    assert _sweep(T0 + 30 * M) == 1
    assert request.policy["reminders"] == [
        {"after": 1800, "notify": []},
        {"after": 7200, "notify": ["oncall-lead", "erin", "#sre"]},
    ]


def test_requests_without_tiers_are_never_reminded(base_policy, requester):
    request = _create(requester)
    assert request.reminder_due is None
    assert _sweep(T0 + 3 * 60 * M) == 0


@pytest.mark.postgres
def test_two_sweeps_racing_send_each_tier_once(transactional_db, apply_yaml):
    apply_yaml(BASE_POLICY)
    apply_yaml(ESCALATION)
    alice = get_user_model().objects.get(username="alice")
    requests = [_create(alice) for _ in range(5)]
    with at(T0 + 30 * M):
        outcomes = run_together(access_requests_remind_due, access_requests_remind_due)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert sum(o.value for o in outcomes) == 5
    for request in requests:
        assert OutboxMessage.objects.filter(request=request, event="request.reminder").count() == 1
        assert (
            AuditEvent.objects.filter(action="request.reminded", target_id=str(request.id)).count()
            == 1
        )
    assert audit_verify().ok


def test_a_sweep_holding_a_stale_row_sends_nothing(escalating, requester, monkeypatch):
    """The compare-and-swap on `reminders_sent`, without the row lock: a sweep that read the
    request before another one sent its tier (SKIP LOCKED keeps this from happening on
    PostgreSQL, where the race test above never reaches it) sends nothing again."""
    import builtins

    from django.db.models import QuerySet

    from requests_app.services import escalation

    request = _create(requester)
    stale = AccessRequest.objects.get(pk=request.pk)  # read before the first sweep
    assert _sweep(T0 + 30 * M) == 1

    def stale_rows(items):  # the sweep's `list(due rows)`, answered with the stale row
        return [stale] if isinstance(items, QuerySet) else builtins.list(items)

    monkeypatch.setattr(escalation, "list", stale_rows, raising=False)
    assert _sweep(T0 + 31 * M) == 0
    assert OutboxMessage.objects.filter(request=request, event="request.reminder").count() == 1
    assert AccessRequest.objects.get(pk=request.pk).reminders_sent == 1


# --- the policy document ----------------------------------------------------------------


def _role(reminders: str):
    return normalize_role(
        {
            "kind": "role",
            "name": "engineer",
            "spec": {"allow": {"request": {"roles": ["db-admin"], "reminders": reminders}}},
        }
    )


@pytest.mark.parametrize(
    ("reminders", "field", "message"),
    [
        ("30m", "reminders", "must be a list of tiers"),
        ([{"notify": ["x"]}], "reminders[0].after", "required"),
        ([{"after": "soon"}], "reminders[0].after", "'soon' is not a duration"),
        ([{"after": "7d"}], "reminders[0].after", "less than 7d"),
        ([{"after": "1h"}, {"after": "60m"}], "reminders[1].after", "another tier already"),
        ([{"after": "1h", "notify": ["#"]}], "reminders[0].notify[0]", "is not a user, role"),
        ([{"after": "1h", "notify": "oncall lead"}], "reminders[0].notify[0]", "is not a"),
        ([{"after": "1h", "when": "x"}], "reminders[0].when", "unknown field"),
        ([{"after": "1h"}] * 11, "reminders", "at most 10 tiers"),
    ],
)
def test_bad_tiers_are_refused_with_the_field_named(reminders, field, message):
    _, problems = _role(reminders)
    assert any(
        p.field == f"spec.allow.request.{field}" and message in p.message for p in problems
    ), problems


def test_tiers_are_sorted_and_export_as_written():
    normalized, problems = _role([{"after": "2h", "notify": ["#sre"]}, {"after": "30m"}])
    assert not problems
    assert normalized["spec"]["allow"]["request"]["reminders"] == [
        {"after": 1800, "notify": []},
        {"after": 7200, "notify": ["#sre"]},
    ]
    exported = export_role_spec(normalized["spec"])
    assert exported["allow"]["request"]["reminders"] == [
        {"after": "30m"},
        {"after": "2h", "notify": ["#sre"]},
    ]
