"""Review rules and on-call schedules as policy documents: loaded, checked with pointed
errors, exported, pruned, edited in admin through the audited service."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from django.urls import reverse

from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.models import OncallSchedule, ReviewRule
from policies_app.predicates import parse
from policies_app.services.apply import policies_apply
from policies_app.services.export import policies_export
from policies_app.services.review_rules import review_document_delete, review_document_save
from tests.conftest import BASE_POLICY

RULES = """
kind: review_rule
name: oncall-ssh
description: People on call for payments get ssh-prod at once
spec:
  roles: [ssh-prod]
  when: 'oncall("payments")'
  timezone: Europe/Berlin
  review: {state: APPROVED, reason: on call for payments}
---
kind: oncall_schedule
name: payments
spec:
  pagerduty: {schedule_id: PABC123}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as err:
        plan_from_texts([("rules.yaml", textwrap.dedent(text))])
    return err.value.problems


def test_rules_and_schedules_load_audited_and_idempotent(apply_yaml):
    summary = apply_yaml(RULES)
    assert summary.created == ["oncall_schedule payments", "review_rule oncall-ssh"]
    assert ReviewRule.objects.get().spec["review"] == {
        "state": "APPROVED",
        "reason": "on call for payments",
    }
    assert AuditEvent.objects.filter(action="review_rule.created").count() == 1
    assert not apply_yaml(RULES).changed


def test_export_round_trips(apply_yaml):
    apply_yaml(RULES)
    exported = policies_export()
    kinds = {"review_rule", "oncall_schedule"}
    docs = [d for d in yaml.safe_load_all(exported) if d["kind"] in kinds]
    assert sorted(docs, key=lambda d: d["kind"]) == sorted(
        yaml.safe_load_all(RULES), key=lambda d: d["kind"]
    )
    assert not policies_apply(plan=plan_from_texts([("export.yaml", exported)])).changed


def test_prune_deletes_rules_and_schedules_not_in_the_files(apply_yaml):
    apply_yaml(RULES)
    summary = apply_yaml("kind: user\nname: x\n", prune=True)
    assert "review_rule oncall-ssh" in summary.deleted
    assert "oncall_schedule payments" in summary.deleted


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "when: 'oncall(\"nights\")'\n  review: {state: APPROVED, reason: r}",
            "spec.when: oncall('nights'): no oncall_schedule named 'nights'",
        ),
        (
            "when: 'contains(reviewer.roles, \"x\")'\n  review: {state: APPROVED, reason: r}",
            "variable 'reviewer.roles' is not allowed in a review_rule expression",
        ),
        (
            "when: 'equals(request.reason, \"\")'\n  timezone: Mars/Olympus\n"
            "  review: {state: APPROVED, reason: r}",
            "spec.timezone: unknown time zone 'Mars/Olympus'",
        ),
        ("when: 'equals(request.reason, \"\")'\n  review: {state: MAYBE}", "spec.review.state"),
        ("review: {state: DENIED, reason: r}", "spec.when: give the condition"),
        (
            'when: \'between(now.hour, "9", "five")\'\n  review: {state: DENIED, reason: r}',
            "argument 3 of between() must be a whole number in quotes",
        ),
        (
            "when: 'equals(request.reason, \"\")'\n"
            "  review: {state: APPROVED, reason: 'hi {user}'}",
            "spec.review.reason: unknown placeholder {user} (known: {rule}, {request.user}",
        ),
        (
            "when: 'equals(request.reason, \"\")'\n  review: {state: APPROVED, reason: 'a } b'}",
            "spec.review.reason: a lone '}' at position 2 (write }})",
        ),
        (
            "when: 'equals(request.reason, \"\")'\n"
            "  review: {state: APPROVED, reason: '{request.__class__}'}",
            "spec.review.reason: unknown placeholder {request.__class__}",
        ),
    ],
)
def test_bad_rules_are_refused_with_their_path(db, spec, expected):
    found = problems(f"kind: review_rule\nname: r\nspec:\n  roles: [x]\n  {spec}\n")
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("{}", "spec: give exactly one source"),
        ("{static: [a], opsgenie: {schedule: x}}", "spec: give exactly one source"),
        ("{pagerduty: {schedule_id: ''}}", "spec.pagerduty.schedule_id"),
        ("{pagerduty: {schedule_id: P1, token: secret}}", "spec.pagerduty.token: unknown field"),
    ],
)
def test_bad_schedules_are_refused(db, spec, expected):
    found = problems(f"kind: oncall_schedule\nname: s\nspec: {spec}\n")
    assert any(expected in p for p in found), found


def test_oncall_is_refused_in_threshold_filters(db):
    found = problems(
        """
        kind: role
        name: r
        spec:
          allow:
            request:
              roles: [x]
              thresholds: [{approve: 1, filter: 'oncall("payments")'}]
        """
    )
    assert any("oncall() is not allowed in a filter expression" in p for p in found), found


RULE_SPEC = {
    "roles": ["db-admin"],
    "when": 'oncall("payments")',
    "review": {"state": "APPROVED", "reason": "x"},
}


def test_admin_service_checks_schedules_and_keeps_a_named_one(db, admin):
    with pytest.raises(ValidationFailed, match="no oncall_schedule named 'payments'"):
        review_document_save(
            kind="review_rule",
            name="r",
            spec=RULE_SPEC,
            actor=admin,
        )
    schedule = review_document_save(
        kind="oncall_schedule", name="payments", spec={"static": ["alice"]}, actor=admin
    )
    rule = review_document_save(
        kind="review_rule",
        name="r",
        spec=RULE_SPEC,
        actor=admin,
    )
    with pytest.raises(ValidationFailed, match="review rules r name this schedule"):
        review_document_delete(kind="oncall_schedule", row_id=schedule.pk, actor=admin)
    review_document_delete(kind="review_rule", row_id=rule.pk, actor=admin)
    review_document_delete(kind="oncall_schedule", row_id=schedule.pk, actor=admin)
    kinds = ["review_rule", "oncall_schedule"]
    events = AuditEvent.objects.filter(target_type__in=kinds).order_by("seq")
    assert list(events.values_list("action", flat=True)) == [
        "oncall_schedule.created",
        "review_rule.created",
        "review_rule.deleted",
        "oncall_schedule.deleted",
    ]


def test_admin_pages_edit_rules_through_the_service(client, admin):
    client.force_login(admin)
    add = reverse("admin:policies_app_reviewrule_add")
    spec = (
        "roles: [db-admin]\nwhen: 'oncall(\"payments\")'\n"
        "review: {state: APPROVED, reason: on call}\n"
    )
    response = client.post(add, {"name": "r", "description": "", "spec_yaml": spec})
    assert response.status_code == 200
    assert "no oncall_schedule named &#x27;payments&#x27;" in response.content.decode()
    response = client.post(
        reverse("admin:policies_app_oncallschedule_add"),
        {"name": "payments", "description": "", "spec_yaml": "static: [alice]\n"},
    )
    assert response.status_code == 302
    assert client.post(add, {"name": "r", "description": "", "spec_yaml": spec}).status_code == 302
    rule = ReviewRule.objects.get(name="r")
    page = client.get(reverse("admin:policies_app_reviewrule_changelist")).content.decode()
    assert "oncall(&quot;payments&quot;)" in page and "APPROVED: on call" in page
    assert (
        "on call"
        in client.get(
            reverse("admin:policies_app_reviewrule_change", args=[rule.pk])
        ).content.decode()
    )
    assert AuditEvent.objects.filter(action="review_rule.created", actor=admin).exists()
    assert OncallSchedule.objects.get().spec == {"static": ["alice"]}


# --- after review: scope, digits, prune, walkers --------------------------------------------


def test_a_rule_must_say_what_it_may_review(db):
    found = problems(
        "kind: review_rule\nname: r\nspec:\n  when: 'equals(request.reason, \"\")'\n"
        "  review: {state: APPROVED, reason: r}\n"
    )
    expected = "spec: give the roles and/or resources the rule may review"
    assert any(expected in p for p in found), found
    found = problems(
        "kind: review_rule\nname: r\nspec:\n  roles: ['^(a$']\n"
        "  when: 'equals(request.reason, \"\")'\n  review: {state: APPROVED, reason: r}\n"
    )
    assert any("spec.roles[0]" in p and "not a valid regular expression" in p for p in found)


@pytest.mark.parametrize("digits", ["²", "٩", "1" * 10])
def test_between_takes_ascii_digits_only_at_load_time(db, digits):
    found = problems(
        "kind: review_rule\nname: r\nspec:\n  roles: [x]\n"
        f'  when: \'between(now.hour, "{digits}", "5")\'\n'
        "  review: {state: APPROVED, reason: r}\n"
    )
    assert any("argument 2 of between() must be a whole number in quotes" in p for p in found)


@pytest.mark.parametrize("scope", ["filter", "where", "review_rule"])
@pytest.mark.parametrize("reason", ["²", "٣", "9" * 30, "-1", " 3 "])
def test_between_never_raises_whatever_the_value(scope, reason):
    predicate = parse('between(request.reason, "1", "5")', scope=scope)
    assert predicate.evaluate({"request": {"reason": reason}}) is (reason == " 3 ")


def test_prune_refuses_to_delete_a_schedule_a_kept_rule_names(apply_yaml):
    apply_yaml(RULES)
    rule_only = RULES.split("---")[0]
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(BASE_POLICY + "\n---\n" + rule_only, prune=True)
    assert any("--prune would delete it" in p for p in err.value.problems), err.value.problems
    assert OncallSchedule.objects.filter(name="payments").exists()
    assert ReviewRule.objects.filter(name="oncall-ssh").exists()
    summary = apply_yaml(BASE_POLICY + "\n---\n" + RULES, prune=True)
    assert not [d for d in summary.deleted if "payments" in d or "oncall-ssh" in d]


def test_predicate_walkers_see_comparisons():
    predicate = parse(
        'request.pending_for > duration("2h") && !contains(request.roles, "x")', scope="where"
    )
    assert [v.name for v in predicate.variables()] == ["request.pending_for", "request.roles"]
    assert [c.name for c in predicate.calls("contains")] == ["contains"]
