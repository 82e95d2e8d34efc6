"""What a review rule may not do (README "Review rules"): review items outside its scope,
judge access that starts later, trust an email two accounts share, or make every request
wait out an on-call outage."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import ReviewRuleCheck
from tests.requests_app import test_review_rules as base
from tests.requests_app.test_review_rules import ALICE, PAGERDUTY, docs, rule, rule_reviews

# The fixtures of the review-rule tests: a fake PagerDuty/Opsgenie, create-and-run-the-job.
oncall = base.oncall
create = base.create


def refusal(request) -> str:
    event = AuditEvent.objects.get(action="review_rule.refused", target_id=str(request.pk))
    return event.data["refusal"]


# --- scope: every requested item inside the rule ------------------------------------------


def test_a_rule_does_not_approve_items_outside_its_scope(requester, apply_yaml, create):
    apply_yaml(rule('contains(request.roles, "dev-admin")', scope="roles: [dev-admin]"))
    request = create(requester, roles=["dev-admin", "db-admin"])
    assert request.state == RequestState.PENDING and not rule_reviews(request)
    assert refusal(request) == "the request holds items outside the rule: db-admin"
    check = ReviewRuleCheck.objects.get(request=request)
    assert check.outcome.startswith("not applicable: the request holds items outside")
    assert create(requester, roles=["dev-admin"]).state == RequestState.APPROVED


def test_a_scope_of_patterns_covers_every_item(requester, apply_yaml, create):
    apply_yaml(rule('equals(request.reason, "")', scope='roles: ["d*-admin"]'))
    request = create(requester, roles=["dev-admin", "db-admin"])
    assert request.state == RequestState.APPROVED


def test_resources_are_in_scope_by_kind_and_name(requester, apply_yaml, create):
    apply_yaml(rule('equals(request.reason, "")', scope='resources: ["node/db-*"]'))
    inside = create(requester, roles=[], resources=["node/db-prod-1"])
    assert inside.state == RequestState.APPROVED
    mixed = create(requester, roles=["dev-admin"], resources=["node/db-prod-1"])
    assert mixed.state == RequestState.PENDING
    assert refusal(mixed) == "the request holds items outside the rule: dev-admin"


# --- now, not later -----------------------------------------------------------------------


def test_access_starting_later_is_left_to_people(requester, apply_yaml, create):
    apply_yaml(rule('contains(request.roles, "db-admin")'))
    later = create(requester, assume_start_time=timezone.now() + timedelta(days=6))
    assert later.state == RequestState.PENDING and not rule_reviews(later)
    assert refusal(later).startswith("the access starts later")
    soon = create(requester, assume_start_time=timezone.now() + timedelta(seconds=20))
    assert soon.state == RequestState.APPROVED


# --- on-call matching by email ------------------------------------------------------------

EVE = "kind: user\nname: eve\nemail: ALICE@example.com\nroles: [engineer]\n"


def test_an_email_two_accounts_hold_is_on_call_for_neither(requester, apply_yaml, create, oncall):
    oncall.pagerduty["PABC123"] = ["alice@example.com"]
    apply_yaml(docs(ALICE, EVE, PAGERDUTY, rule('oncall("payments")')))
    eve = get_user_model().objects.get(username="eve")
    assert create(eve).state == RequestState.PENDING
    assert create(requester).state == RequestState.PENDING
    # Once eve's account is disabled, the address is alice's alone again.
    eve.is_active = False
    eve.save()
    assert create(requester, roles=["db-admin"], reason="again").state == RequestState.APPROVED


def test_static_lists_match_user_names_never_emails(requester, apply_yaml, create):
    schedule = "kind: oncall_schedule\nname: payments\nspec:\n  static: [alice@example.com]\n"
    apply_yaml(docs(ALICE, schedule, rule('oncall("payments")')))
    assert create(requester).state == RequestState.PENDING


# --- failures are remembered briefly ------------------------------------------------------


def test_a_failed_lookup_is_remembered_so_an_outage_costs_one_wait(
    requester, apply_yaml, create, oncall, settings
):
    oncall.pagerduty["PABC123"] = ["alice@example.com"]
    oncall.status = 503
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    first = create(requester)
    second = create(requester, reason="again")
    assert first.state == second.state == RequestState.PENDING
    assert len(oncall.calls) == 1
    check = ReviewRuleCheck.objects.get(request=second)
    assert check.inputs["unavailable_schedules"] == ["payments"]


@pytest.mark.parametrize("seconds", [0])
def test_failures_can_be_asked_again_at_once(
    requester, apply_yaml, create, oncall, settings, seconds
):
    settings.ONCALL_FAILURE_CACHE_SECONDS = seconds
    oncall.status = 503
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    create(requester)
    create(requester, reason="again")
    assert len(oncall.calls) == 2


def test_dry_run_names_requests_the_rule_would_leave_to_people(requester, create, tmp_path):
    inside = create(requester)
    mixed = create(requester, roles=["db-admin", "dev-admin"])
    path = tmp_path / "rules.yaml"
    path.write_text(rule('contains(request.roles, "db-admin")'))
    out = io.StringIO()
    call_command("apply_policies", str(path), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "review_rule oncall-db would have reviewed 1 of 2 request(s)" in text
    assert f"{str(inside.pk)[:8]} alice db-admin " in text
    assert (
        f"{str(mixed.pk)[:8]} alice db-admin, dev-admin: not reviewed, the request holds "
        "items outside the rule: dev-admin"
    ) in text
