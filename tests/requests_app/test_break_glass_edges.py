"""Break-glass at its edges: extensions of a use awaiting ratification, whose rules allow it,
what a ratification re-checks and reschedules, what the verdict reads (the snapshot), the
policy loader's check of `notify`, and what the notifications say."""

from __future__ import annotations

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import BreakGlassNotAllowed, BreakGlassUnratified, Unprocessable
from policies_app.catalog import requestable_roles
from policies_app.loader import PolicyFileError
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest, Grant, OutboxMessage
from requests_app.notifications.rendering import render_email, render_slack
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.audit_completeness import audit_completeness
from requests_app.services.break_glass import break_glass_decide, break_glass_open
from requests_app.services.extensions import access_request_extend
from requests_app.services.notifications import outbox_dispatch
from requests_app.services.reminders import grants_warn_ending
from requests_app.services.reviews import review_submit
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


def _decide(request, reviewer, verdict, reason="checked"):
    return break_glass_decide(
        request_id=request.id, reviewer=reviewer, verdict=verdict, reason=reason
    )


# -- extensions ---------------------------------------------------------------------------


def test_a_use_awaiting_ratification_cannot_be_extended(glass_policy, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:30Z", tick=False):
        with pytest.raises(BreakGlassUnratified, match="extended once a reviewer has ratified"):
            access_request_extend(requester=requester, request_id=request.id, reason="more")
        assert not AccessRequest.objects.filter(extends=request).exists()
        _decide(request, reviewer, "ratify")
        extension = access_request_extend(requester=requester, request_id=request.id, reason="more")
    assert extension.state == RequestState.PENDING  # once ratified, like any access


def _extension(requester, request):
    """An extension opened by the create service directly: what `extend/` opened before it
    refused uses awaiting ratification (data from before, or a path around extend)."""
    return access_request_create(
        requester=requester,
        roles=["db-admin"],
        reason="need more",
        max_duration="4h",
        extends=request,
    )


def test_a_late_rejection_revokes_an_approved_extension(
    glass_policy, requester, reviewer, second_reviewer
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:30Z", tick=False):
        extension = _extension(requester, request)
        review_submit(request_id=extension.id, reviewer=reviewer, state="APPROVED", reason="ok")
    with time_machine.travel("2026-04-01 10:30Z", tick=False):  # past the 1h deadline
        assert access_check(user=requester, role="db-admin").allowed  # through the extension
        _decide(request, second_reviewer, "reject", "no incident")
        assert not access_check(user=requester, role="db-admin").allowed
    extension.refresh_from_db()
    assert extension.state == RequestState.REVOKED
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED  # its own access had already ended
    message = OutboxMessage.objects.get(request_id=request.id, event="break_glass.rejected")
    assert message.payload["revoked_at"] is not None


def test_a_late_rejection_closes_a_pending_extension(
    glass_policy, requester, reviewer, second_reviewer
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:50Z", tick=False):
        extension = _extension(requester, request)
    with time_machine.travel("2026-04-01 10:30Z", tick=False):
        _decide(request, second_reviewer, "reject", "no incident")
    extension.refresh_from_db()
    assert extension.state == RequestState.DENIED


# -- whose rules allow it -------------------------------------------------------------------

STRICT_AND_ONCALL = """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: three, approve: 3}]
---
kind: role
name: oncall
spec:
  allow:
    request:
      roles: ["*"]
      break_glass: {ratify_within: 1h, notify: [security]}
---
kind: user
name: alice
roles: [engineer, oncall]
---
kind: notification_rule
name: security
spec:
  events: [access.ending_soon]
  channels:
    - {type: email, to: [security@example.com]}
"""


def test_one_roles_break_glass_does_not_skip_another_roles_thresholds(
    base_policy, apply_yaml, requester
):
    apply_yaml(STRICT_AND_ONCALL)
    with pytest.raises(BreakGlassNotAllowed, match="every role of yours"):
        _open(requester)
    rules = {r.name: r.rule for r in requestable_roles(requester)}
    assert rules["db-admin"].break_glass_within is None  # the portal shows no button
    assert rules["dev-admin"].break_glass_within == 3600  # oncall alone allows dev-admin


def test_resources_reached_by_search_as_roles_are_not_break_glass(glass_policy, requester):
    with pytest.raises(BreakGlassNotAllowed, match="roles only"):
        _open(requester, roles=[], resources=["node/db-prod-1"])
    assert not BreakGlass.objects.exists()


# -- the policy loader ----------------------------------------------------------------------


def test_a_notify_name_that_names_nothing_is_refused_at_load(base_policy, apply_yaml):
    with pytest.raises(PolicyFileError, match="no notification_rule or user named 'securty'"):
        apply_yaml(BREAK_GLASS.replace("notify: [security]", "notify: [security, securty]"))
    apply_yaml(BREAK_GLASS.replace("notify: [security]", "notify: [security, bob]"))  # a user


# -- ratification ---------------------------------------------------------------------------


def test_ratifying_rechecks_that_the_requester_may_still_request_the_items(
    glass_policy, requester, reviewer, apply_yaml
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
        apply_yaml(engineer_requests(roles="[dev-admin]"))  # alice may no longer ask db-admin
    with time_machine.travel("2026-04-01 09:30Z", tick=False):
        with pytest.raises(Unprocessable, match="no longer allow requesting the role 'db-admin'"):
            _decide(request, reviewer, "ratify")
        assert not access_check(
            user=requester, role="db-admin", at=BreakGlass.objects.get().deadline
        ).allowed
        assert BreakGlass.objects.get().state == Ratification.AWAITING
        _decide(request, reviewer, "reject", "not hers any more")  # rejecting still works


def test_ratifying_warns_again_before_the_new_end(glass_policy, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:50Z", tick=False):
        assert grants_warn_ending() == 1  # ten minutes before the deadline
        _decide(request, reviewer, "ratify")
    assert list(Grant.objects.filter(request=request).values_list("warned_at", flat=True)) == [None]
    with time_machine.travel("2026-04-01 12:50Z", tick=False):  # ten minutes before 13:00
        assert grants_warn_ending() == 1


# -- the snapshot ---------------------------------------------------------------------------

OTHER_RULE = """
---
kind: notification_rule
name: sec-other
spec:
  events: [access.ending_soon]
  channels:
    - {type: email, to: [other@example.com]}
"""


def test_the_verdict_reads_the_policy_the_use_was_opened_under(
    glass_policy, requester, reviewer, apply_yaml
):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
        apply_yaml(
            BREAK_GLASS.replace(
                "ratify_within: 1h, notify: [security]", "ratify_within: 5m, notify: [sec-other]"
            )
            + OTHER_RULE
        )
    with time_machine.travel("2026-04-01 09:30Z", tick=False):  # late under 5m, not under 1h
        _decide(request, reviewer, "reject", "no incident")
    request.refresh_from_db()
    assert request.state == RequestState.REVOKED  # on time: its access was live and revoked
    message = OutboxMessage.objects.get(request_id=request.id, event="break_glass.rejected")
    assert message.payload["late"] is False
    mail.outbox.clear()
    outbox_dispatch(message_id=message.pk)
    told = {address for m in mail.outbox for address in m.to}
    assert "security@example.com" in told and "other@example.com" not in told


# -- what the notifications say -----------------------------------------------------------


def test_the_opening_notice_says_ratify_by_and_what_to_do(glass_policy, requester):
    with time_machine.travel(T0, tick=False):
        _open(requester)
    message = OutboxMessage.objects.get(event="break_glass.opened")
    email = render_email(message, recipient="bob")
    assert "Break glass: alice took db-admin now, awaiting ratification" in email.subject
    assert "Ratify by: 2026-04-01 10:00 UTC" in email.text
    assert "ratify or reject it in Access Portal" in email.text
    assert "until 2026-04-01 13:00 UTC" in email.text
    assert "Ratify by 2026-04-01 10:00 UTC" in email.html
    assert "Ratify or reject by 2026-04-01 10:00 UTC" in render_slack(message)["text"]


def test_the_rejection_notice_says_revoked_by_whom_and_why(glass_policy, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:20Z", tick=False):
        _decide(request, reviewer, "reject", "no such incident")
    message = OutboxMessage.objects.get(event="break_glass.rejected")
    email = render_email(message, recipient="alice")
    assert "alice's break-glass access to db-admin was rejected" in email.subject
    assert "bob rejected it: no such incident." in email.text
    assert "The access was revoked at 2026-04-01 09:20 UTC." in email.text
    assert "Access ends: 2026-04-01 09:20 UTC" in email.text  # not the deadline (10:00)
    slack = render_slack(message)["text"]
    assert "Rejected by bob: no such incident" in slack
    assert "Access revoked 2026-04-01 09:20 UTC" in slack


def test_the_ratification_notice_says_by_whom(glass_policy, requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = _open(requester)
    with time_machine.travel("2026-04-01 09:20Z", tick=False):
        _decide(request, reviewer, "ratify", "INC-42 is real")
    email = render_email(OutboxMessage.objects.get(event="break_glass.ratified"), recipient="alice")
    assert "alice's break-glass access to db-admin was ratified" in email.subject
    assert "bob ratified it: INC-42 is real." in email.text
    assert "Access ends: 2026-04-01 13:00 UTC" in email.text


# -- audit completeness ---------------------------------------------------------------------


def test_audit_completeness_knows_break_glass(glass_policy, requester, reviewer, second_reviewer):
    ratified = _open(requester)
    _decide(ratified, reviewer, "ratify")
    rejected = _open(requester, reason="INC-43")
    _decide(rejected, second_reviewer, "reject", "no incident")
    _open(requester, reason="INC-44")  # awaiting
    assert audit_completeness().missing == []

    now = timezone.now()
    # Approved by its own requester with no break_glass.opened; a verdict with no event.
    forged = AccessRequest.objects.create(
        user=requester, roles=["db-admin"], state="APPROVED", created=now, expires=now,
        requested_duration=3600, max_duration=3600, resolved_at=now, resolved_by=requester,
    )  # fmt: skip
    glass = BreakGlass.objects.get(request=ratified)
    BreakGlass.objects.filter(pk=glass.pk).update(state=Ratification.REJECTED)
    missing = {(m.target_id, m.action, m.detail) for m in audit_completeness().missing}
    assert missing == {
        (str(forged.id), "request.created", ""),
        (str(forged.id), "request.approved", ""),
        (str(forged.id), "break_glass.opened", ""),
        (str(ratified.id), "break_glass.rejected", f"by user #{reviewer.pk}"),
    }
