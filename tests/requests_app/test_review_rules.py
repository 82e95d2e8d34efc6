"""Review rules (README "Review rules"): a rule's review is an ordinary review by the
review-rule identity, written after the request commits, counted by the thresholds like any
other; a rule that must not fire leaves the request pending. On-call sources are a fake
PagerDuty / Opsgenie on 127.0.0.1 (tests/oncall_server.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from prometheus_client import REGISTRY

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import NotAllowed
from accessportal.kernel.models import AuditEvent
from accessportal.kernel.usernames import RULE_REVIEWER_USERNAME
from requests_app import tasks
from requests_app.models import AccessRequest, Review, ReviewRuleCheck
from requests_app.services.access_requests import access_request_create
from requests_app.services.review_rules import review_rules_due
from requests_app.services.reviews import review_submit
from requests_app.services.rule_reviewer import RuleReview, rule_reviewer
from tests.oncall_server import OPSGENIE_KEY, PAGERDUTY_TOKEN, FakeOncall

# Monday 1 June 2026, 10:00 in Berlin (08:00 UTC).
MONDAY_MORNING = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

ALICE = """
kind: user
name: alice
email: alice@example.com
roles: [engineer]
traits: {team: [pay]}
"""

PAGERDUTY = """
kind: oncall_schedule
name: payments
spec:
  pagerduty: {schedule_id: PABC123}
"""


def rule(
    when: str,
    *,
    state: str = "APPROVED",
    name: str = "oncall-db",
    tz: str = "",
    scope: str = "roles: [db-admin]",
) -> str:
    zone = f"\n  timezone: {tz}" if tz else ""
    return (
        f"kind: review_rule\nname: {name}\nspec:\n  {scope}\n  when: '{when}'{zone}\n"
        f'  review: {{state: {state}, reason: "rule {name}"}}\n'
    )


def docs(*parts: str) -> str:
    return "\n---\n".join(p.strip("\n") for p in parts) + "\n"


@pytest.fixture
def oncall(tmp_path, settings):
    fake = FakeOncall(tmp_path).start()
    settings.ONCALL_PAGERDUTY_URL = fake.url
    settings.ONCALL_PAGERDUTY_TOKEN = PAGERDUTY_TOKEN
    settings.ONCALL_OPSGENIE_URL = fake.url
    settings.ONCALL_OPSGENIE_KEY = OPSGENIE_KEY
    settings.ONCALL_CA_FILE = fake.ca_file
    settings.ONCALL_TIMEOUT = 1
    yield fake
    fake.stop()


@pytest.fixture
def create(django_capture_on_commit_callbacks):
    """Create a request as the API does: the review-rule job runs once it commits."""

    def _create(requester, roles=("db-admin",), **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            request = access_request_create(requester=requester, roles=list(roles), **kwargs)
        return AccessRequest.objects.get(pk=request.pk)

    return _create


def rule_reviews(request):
    return list(Review.objects.filter(request=request, reviewer__username=RULE_REVIEWER_USERNAME))


# --- approval by a rule alone ----------------------------------------------------------


def test_rule_approves_alone_through_an_ordinary_audited_review(requester, apply_yaml, create):
    apply_yaml(rule('contains(request.roles, "db-admin") && contains(user.traits["team"], "pay")'))
    request = create(requester)
    assert request.state == RequestState.APPROVED
    (review,) = rule_reviews(request)
    assert review.state == "APPROVED" and review.reason == "rule oncall-db"
    event = AuditEvent.objects.get(action="review.submitted", target_id=str(request.pk))
    assert event.actor_name == RULE_REVIEWER_USERNAME
    assert event.data["rule"] == "oncall-db"
    assert event.data["inputs"] == {"request.roles": ["db-admin"], 'user.traits["team"]': ["pay"]}
    assert AuditEvent.objects.filter(action="request.approved", target_id=str(request.pk)).exists()
    assert request.grants.count() == 1


def test_deny_rule_wins_over_an_approving_one(requester, apply_yaml, create):
    apply_yaml(
        docs(
            rule('contains(request.roles, "db-admin")', name="a-approve"),
            rule('equals(request.reason, "")', name="b-deny", state="DENIED"),
        )
    )
    request = create(requester)
    assert request.state == RequestState.DENIED
    assert ReviewRuleCheck.objects.get(request=request).rule == "b-deny"


def test_rules_apply_once_and_the_sweep_catches_a_lost_message(requester, apply_yaml):
    apply_yaml(rule('contains(request.roles, "db-admin")'))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        # No after-commit callbacks run here: as if the job's message was lost.
        request = access_request_create(requester=requester, roles=["db-admin"])
        assert review_rules_due() == 0  # too young: its job may still come
    with time_machine.travel(MONDAY_MORNING + timedelta(minutes=5), tick=False):
        assert review_rules_due() == 1
        request.refresh_from_db()
        assert request.state == RequestState.APPROVED
        assert review_rules_due() == 0
        assert tasks.apply_review_rules.delay(request_id=str(request.pk)).get() == "not pending"
    assert len(rule_reviews(request)) == 1


# --- a human still needed ----------------------------------------------------------------

# alice's engineer role asks for a human; her on-call role, which also allows db-admin,
# asks for the rule: two sets, each must be met (Teleport's semantics).
HUMAN_AND_RULE = """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: human, filter: 'equals(reviewer.kind, "human")', approve: 1}]
---
kind: role
name: oncall-engineer
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: on-call rule, filter: 'equals(reviewer.kind, "rule")', approve: 1}]
---
kind: user
name: alice
email: alice@example.com
roles: [engineer, oncall-engineer]
"""


def test_rule_review_counts_but_the_request_waits_for_a_human(
    requester, reviewer, apply_yaml, create
):
    apply_yaml(docs(HUMAN_AND_RULE, rule('contains(request.roles, "db-admin")')))
    request = create(requester)
    assert request.state == RequestState.PENDING
    (review,) = rule_reviews(request)
    assert review.threshold_indexes == [1]  # the rule's threshold, not the human one
    request = review_submit(request_id=request.pk, reviewer=reviewer, state="APPROVED")
    assert request.state == RequestState.APPROVED


def test_a_human_alone_does_not_meet_the_rule_set(requester, reviewer, apply_yaml, create):
    apply_yaml(docs(HUMAN_AND_RULE, rule('equals(request.reason, "never")')))
    request = create(requester)
    request = review_submit(request_id=request.pk, reviewer=reviewer, state="APPROVED")
    assert request.state == RequestState.PENDING


# --- rules that must not fire ------------------------------------------------------------


def test_condition_false_leaves_the_request_pending(requester, apply_yaml, create):
    apply_yaml(rule('contains(request.roles, "dev-admin")'))
    request = create(requester)
    assert request.state == RequestState.PENDING and not rule_reviews(request)
    check = ReviewRuleCheck.objects.get(request=request)
    assert check.outcome == "no rule fired"
    assert check.inputs["oncall-db"] == {"fired": False, "request.roles": ["db-admin"]}


def test_rule_never_approves_what_the_requester_may_no_longer_request(
    requester, apply_yaml, django_capture_on_commit_callbacks
):
    apply_yaml(rule('contains(request.roles, "db-admin")'))
    request = access_request_create(requester=requester, roles=["db-admin"])
    # Before the job runs, alice's role stops allowing db-admin.
    apply_yaml("kind: role\nname: engineer\nspec:\n  allow:\n    request: {roles: [dev-admin]}\n")
    tasks.apply_review_rules.delay(request_id=str(request.pk)).get()
    request.refresh_from_db()
    assert request.state == RequestState.PENDING and not rule_reviews(request)
    event = AuditEvent.objects.get(action="review_rule.refused", target_id=str(request.pk))
    assert event.data["rule"] == "oncall-db"
    assert "no longer allow requesting the role 'db-admin'" in event.data["refusal"]


@pytest.mark.parametrize(
    ("moment", "state"),
    [
        (MONDAY_MORNING, RequestState.APPROVED),  # 10:00 Monday in Berlin
        (MONDAY_MORNING + timedelta(hours=9), RequestState.PENDING),  # 19:00 in Berlin
        (MONDAY_MORNING - timedelta(days=1), RequestState.PENDING),  # Sunday
    ],
)
def test_time_window_in_the_rules_time_zone(requester, apply_yaml, create, moment, state):
    apply_yaml(
        rule(
            'between(now.hour, "9", "17") && !regexp.match(now.weekday, "^(sat|sun)$")',
            tz="Europe/Berlin",
        )
    )
    with time_machine.travel(moment, tick=False):
        request = create(requester)
    assert request.state == state


def test_the_rule_identity_reviews_only_by_a_rule_and_people_never_by_one(
    requester, reviewer, create
):
    request = create(requester)
    with pytest.raises(NotAllowed):
        review_submit(request_id=request.pk, reviewer=rule_reviewer(), state="APPROVED")
    with pytest.raises(NotAllowed):
        review_submit(
            request_id=request.pk,
            reviewer=reviewer,
            state="APPROVED",
            rule=RuleReview("forged", {}),
        )
    assert not Review.objects.filter(request=request).exists()


# --- on-call sources ---------------------------------------------------------------------


def test_pagerduty_on_call_requester_is_approved(requester, apply_yaml, create, oncall):
    oncall.pagerduty["PABC123"] = ["someone@example.com", "Alice@Example.com"]
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        request = create(requester)
    assert request.state == RequestState.APPROVED
    call = oncall.calls[0]
    assert call["authorization"] == f"Token token={PAGERDUTY_TOKEN}"
    assert call["query"]["schedule_ids[]"] == ["PABC123"]
    assert call["query"]["since"] == ["2026-06-01T08:00:00Z"]
    event = AuditEvent.objects.get(action="review.submitted", target_id=str(request.pk))
    assert event.data["inputs"] == {"oncall": {"payments": True}}


def test_the_reason_template_names_the_requester_and_the_schedules(
    requester, apply_yaml, create, oncall
):
    oncall.pagerduty["PABC123"] = ["alice@example.com"]
    template = rule('oncall("payments")').replace(
        '"rule oncall-db"',
        '"{request.user} is on call for {oncall} ({rule}: {request.roles}) {{ok}}"',
    )
    apply_yaml(docs(ALICE, PAGERDUTY, template))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        request = create(requester)
    (review,) = rule_reviews(request)
    assert review.reason == "alice is on call for payments (oncall-db: db-admin) {ok}"


def test_pagerduty_someone_else_on_call_leaves_it_pending(requester, apply_yaml, create, oncall):
    oncall.pagerduty["PABC123"] = ["bob@example.com"]
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    request = create(requester)
    assert request.state == RequestState.PENDING
    check = ReviewRuleCheck.objects.get(request=request)
    assert check.inputs["oncall-db"]["oncall"] == {"payments": False}


@pytest.mark.parametrize("failure", ["error", "timeout"])
def test_pagerduty_down_fails_closed(requester, apply_yaml, create, oncall, failure, settings):
    oncall.pagerduty["PABC123"] = ["alice@example.com"]
    if failure == "error":
        oncall.status = 503
    else:
        oncall.delay = 2  # > ONCALL_TIMEOUT
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    labels = {"source": "pagerduty", "outcome": "failed"}
    failed_before = REGISTRY.get_sample_value("accessportal_oncall_lookups_total", labels) or 0
    request = create(requester)
    assert request.state == RequestState.PENDING and not rule_reviews(request)
    assert REGISTRY.get_sample_value("accessportal_oncall_lookups_total", labels) == (
        failed_before + 1
    )
    check = ReviewRuleCheck.objects.get(request=request)
    assert check.inputs["unavailable_schedules"] == ["payments"]
    assert check.inputs["oncall-db"]["oncall"]["payments"].startswith("unavailable: PagerDuty")


def test_answers_are_cached_briefly(requester, apply_yaml, create, oncall):
    oncall.pagerduty["PABC123"] = ["alice@example.com"]
    apply_yaml(docs(ALICE, PAGERDUTY, rule('oncall("payments")')))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        create(requester)
        create(requester, roles=["dev-admin"])
    assert len(oncall.calls) == 1


def test_opsgenie_on_call_requester_is_approved(requester, apply_yaml, create, oncall):
    oncall.opsgenie["payments"] = ["alice@example.com"]
    schedule = "kind: oncall_schedule\nname: payments\nspec:\n  opsgenie: {schedule: payments}\n"
    apply_yaml(docs(ALICE, schedule, rule('oncall("payments")')))
    request = create(requester)
    assert request.state == RequestState.APPROVED
    call = oncall.calls[0]
    assert call["path"] == "/v2/schedules/payments/on-calls"
    assert call["authorization"] == f"GenieKey {OPSGENIE_KEY}"
    assert call["query"]["scheduleIdentifierType"] == ["name"]


@pytest.mark.parametrize(("people", "state"), [("[alice]", "APPROVED"), ("[bob]", "PENDING")])
def test_static_schedule(requester, apply_yaml, create, people, state):
    schedule = f"kind: oncall_schedule\nname: payments\nspec:\n  static: {people}\n"
    apply_yaml(docs(schedule, rule('oncall("payments")')))
    assert create(requester).state == state


# --- apply_policies --dry-run ------------------------------------------------------------


def test_dry_run_shows_what_a_new_rule_would_have_decided(requester, create, tmp_path):
    with time_machine.travel(MONDAY_MORNING, tick=False):
        approvable = create(requester)
        other = create(requester, roles=["dev-admin"])
    path = tmp_path / "rules.yaml"
    path.write_text(rule('contains(request.roles, "db-admin")'))
    out = io.StringIO()
    with time_machine.travel(MONDAY_MORNING + timedelta(days=1), tick=False):
        call_command("apply_policies", str(path), "--dry-run", stdout=out)
    text = out.getvalue()
    assert "review_rule oncall-db would have reviewed 1 of 2 request(s) from the last 7 days" in (
        text
    )
    assert f"{str(approvable.pk)[:8]} alice db-admin 2026-06-01 08:00 UTC" in text
    assert "now PENDING: APPROVED" in text
    assert str(other.pk)[:8] not in text
    assert "dry run: nothing was changed" in text
    # Unchanged rules are not shown again.
    call_command("apply_policies", str(path), stdout=io.StringIO())
    out = io.StringIO()
    call_command("apply_policies", str(path), "--dry-run", stdout=out)
    assert "would have reviewed" not in out.getvalue()
