"""Break-glass access: approved at once by its requester where policy allows, capped at the
ratification deadline, then ratified (full window) or rejected (revoked, requester flagged)
by the request's eligible reviewers; unratified, it ends at the deadline with no worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
import yaml
from django.core import mail
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import (
    BreakGlassNotAllowed,
    BreakGlassUnratified,
    NotAllowed,
    NotAwaitingRatification,
    ReasonRequired,
    SelfReviewRefused,
)
from accessportal.kernel.models import AuditEvent
from policies_app.documents.roles import export_role_spec, normalize_role
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest, Grant, OutboxMessage
from requests_app.selectors.access import access_check
from requests_app.selectors.break_glass import break_glass_awaiting_for
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from requests_app.services.notifications import outbox_dispatch
from tests.policies import BREAK_GLASS, engineer_requests

T0 = "2026-04-01 09:00Z"


@pytest.fixture
def glass_policy(base_policy, apply_yaml):
    apply_yaml(BREAK_GLASS)


def _open(requester, **kwargs):
    kwargs.setdefault("roles", ["db-admin"])
    kwargs.setdefault("reason", "INC-42 database down")
    kwargs.setdefault("max_duration", "4h")
    return break_glass_open(requester=requester, **kwargs)


def test_break_glass_is_approved_at_once_capped_at_the_deadline(glass_policy, requester):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
        now = request.created
    assert request.state == RequestState.APPROVED and request.resolved_by_id == requester.pk
    assert request.access_expires == now + timedelta(hours=1)  # the deadline, not 4h
    glass = BreakGlass.objects.get(request=request)
    assert glass.state == Ratification.AWAITING
    assert glass.window_expires == now + timedelta(hours=4)
    assert request.policy["break_glass"] == {"ratify_within": 3600, "notify": ["security"]}
    assert {g.expires for g in Grant.objects.filter(request=request)} == {glass.deadline}
    actions = list(
        AuditEvent.objects.filter(target_id=str(request.id)).values_list("action", flat=True)
    )
    assert actions == ["request.created", "request.approved", "break_glass.opened"]


def test_break_glass_notifies_the_security_rule_and_the_eligible_reviewers(
    glass_policy, requester, settings
):
    request = _open(requester)
    message = OutboxMessage.objects.get(request_id=request.id, event="break_glass.opened")
    outbox_dispatch(message_id=message.pk)
    told = {address for m in mail.outbox for address in m.to}
    # The `security` rule's channel although its events do not name break-glass; bob
    # (an eligible reviewer with an address); never alice herself.
    assert {"security@example.com", "bob@example.com"} <= told
    message.refresh_from_db()
    assert "bob" in message.recipients and "alice" not in message.recipients
    # Not also asked to review something already approved.
    events = set(
        OutboxMessage.objects.filter(request_id=request.id).values_list("event", flat=True)
    )
    assert events == {"break_glass.opened", "request.approved"}


def test_ratified_access_continues_to_the_full_window(glass_policy, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:30Z", tick=False):
        glass = break_glass_decide(
            request_id=request.id, reviewer=reviewer, verdict="ratify", reason="INC-42 checked"
        )
    assert glass.state == Ratification.RATIFIED and glass.decided_by == reviewer
    request.refresh_from_db()
    assert request.access_expires == glass.window_expires
    past_deadline = glass.deadline + timedelta(minutes=5)
    assert access_check(user=requester, role="db-admin", at=past_deadline).allowed
    assert not access_check(user=requester, role="db-admin", at=glass.window_expires).allowed
    event = AuditEvent.objects.get(action="break_glass.ratified")
    assert event.actor_id == reviewer.pk and event.data["reason"] == "INC-42 checked"


def test_rejected_access_is_revoked_at_once_and_the_requester_flagged(
    glass_policy, requester, reviewer
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:10Z", tick=False):
        assert access_check(user=requester, role="db-admin").allowed
        break_glass_decide(
            request_id=request.id, reviewer=reviewer, verdict="reject", reason="no incident"
        )
        assert not access_check(user=requester, role="db-admin").allowed
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED and request.revoked_by == reviewer
    assert BreakGlass.objects.get(request=request).state == Ratification.REJECTED
    assert BreakGlass.objects.filter(user=requester, state=Ratification.REJECTED).exists()
    actions = set(
        AuditEvent.objects.filter(target_id=str(request.id)).values_list("action", flat=True)
    )
    assert {"request.revoked", "break_glass.rejected"} <= actions


def test_timed_out_access_ends_at_the_deadline_with_no_worker(glass_policy, requester):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    glass = BreakGlass.objects.get(request=request)
    with time_machine.travel(glass.deadline - timedelta(seconds=1), tick=False):
        assert access_check(user=requester, role="db-admin").allowed
    with time_machine.travel(glass.deadline + timedelta(seconds=1), tick=False):
        assert not access_check(user=requester, role="db-admin").allowed
        glass.refresh_from_db()
        assert glass.status_at(glass.deadline) == "not ratified (timed out)"
    # Nothing ran: the row still awaits, and says so.
    assert glass.state == Ratification.AWAITING


def test_late_ratification_records_the_verdict_without_restoring_access(
    glass_policy, requester, reviewer
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 11:00Z", tick=False):
        glass = break_glass_decide(
            request_id=request.id, reviewer=reviewer, verdict="ratify", reason="was fine"
        )
        assert not access_check(user=requester, role="db-admin").allowed
    assert glass.status_at(glass.decided_at).startswith("ratified after its deadline")


def test_break_glass_is_refused_where_policy_does_not_allow_it(glass_policy, requester):
    with pytest.raises(BreakGlassNotAllowed, match="dev-admin"):
        _open(requester, roles=["db-admin", "dev-admin"])
    assert not AccessRequest.objects.exists() and not BreakGlass.objects.exists()


def test_break_glass_needs_a_reason(glass_policy, requester):
    with pytest.raises(ReasonRequired):
        _open(requester, reason="")


def test_second_break_glass_is_refused_while_one_is_unratified(glass_policy, requester, reviewer):
    first = _open(requester)
    with pytest.raises(BreakGlassUnratified, match=str(first.id)):
        _open(requester, reason="another one")
    assert AccessRequest.objects.count() == 1
    # Also once the first timed out: someone must judge it first.
    later = timezone.now() + timedelta(hours=2)
    with time_machine.travel(later), pytest.raises(BreakGlassUnratified):
        _open(requester, reason="another one")
    break_glass_decide(request_id=first.id, reviewer=reviewer, verdict="ratify", reason="ok")
    _open(requester, reason="a new incident")
    assert BreakGlass.objects.filter(user=requester).count() == 2


def test_requester_cannot_ratify_their_own(glass_policy, requester, outsider, user):
    request = _open(requester)
    with pytest.raises(SelfReviewRefused):
        break_glass_decide(request_id=request.id, reviewer=requester, verdict="ratify", reason="me")
    with pytest.raises(NotAllowed):
        break_glass_decide(request_id=request.id, reviewer=outsider, verdict="ratify", reason="x")
    assert BreakGlass.objects.get(request=request).state == Ratification.AWAITING


def test_a_verdict_is_given_once(glass_policy, requester, reviewer, second_reviewer):
    request = _open(requester)
    break_glass_decide(request_id=request.id, reviewer=reviewer, verdict="ratify", reason="ok")
    with pytest.raises(NotAwaitingRatification):
        break_glass_decide(
            request_id=request.id, reviewer=second_reviewer, verdict="reject", reason="no"
        )


def test_a_policy_edit_does_not_change_a_break_glass_in_flight(
    glass_policy, requester, reviewer, apply_yaml
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    apply_yaml(engineer_requests("break_glass: {ratify_within: 5m}"))
    request.refresh_from_db()
    assert request.policy["break_glass"]["ratify_within"] == 3600


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("{ratify_within: 1m}", "at least 5m"),
        ("{ratify_within: 3d}", "at most"),
        ("{notify: [security]}", "is required"),
        ("{ratify_within: 1h, notify: ['#sec ops']}", "notification rule or user name"),
    ],
)
def test_break_glass_policy_is_checked(spec, problem):
    doc = {
        "kind": "role",
        "name": "engineer",
        "spec": {
            "allow": {"request": {"roles": ["db-admin"], "break_glass": yaml.safe_load(spec)}}
        },
    }
    _, problems = normalize_role(doc)
    assert any(problem in str(p) for p in problems), problems


def test_break_glass_policy_exports_as_written():
    doc = {
        "kind": "role",
        "name": "engineer",
        "spec": {
            "allow": {
                "request": {
                    "roles": ["db-admin"],
                    "break_glass": {"ratify_within": "1h", "notify": ["security"]},
                }
            }
        },
    }
    normalized, problems = normalize_role(doc)
    assert not problems
    exported = export_role_spec(normalized["spec"])
    assert exported["allow"]["request"]["break_glass"] == {
        "ratify_within": "1h",
        "notify": ["security"],
    }


def test_a_reviewer_who_joins_later_sees_the_use_awaiting_ratification(
    glass_policy, requester, apply_yaml, user
):
    request = _open(requester)
    # dan reviews with a profile nobody had when the request was made (reviewer + auditor).
    apply_yaml("kind: user\nname: dan\nroles: [reviewer, auditor]\n")
    dan = user("dan")
    assert list(break_glass_awaiting_for(dan)) == [request]
    break_glass_decide(request_id=request.id, reviewer=dan, verdict="ratify", reason="seen")
