"""Notification rules as policy documents: loaded, checked, exported, pruned, edited."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.models import NotificationRule
from policies_app.predicates import PredicateError, parse
from policies_app.services.apply import policies_apply
from policies_app.services.export import policies_export
from policies_app.services.notification_rules import (
    notification_rule_delete,
    notification_rule_save,
)

RULE = """
kind: notification_rule
name: db-admin-watch
description: Security hears about database admin requests
spec:
  events: [request.created, "access.*"]
  condition: 'contains(request.roles, "db-admin") || equals(request.user, "dave")'
  channels:
    - {type: email, to: [security@example.com, carol]}
    - {type: slack, url_env: SLACK_WEBHOOK_URL}
    - {type: webhook, url: "https://siem.example.com/hook", secret_env: SIEM_SECRET}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as err:
        plan_from_texts([("rules.yaml", textwrap.dedent(text))])
    return err.value.problems


def test_rule_is_loaded_and_audited(apply_yaml):
    summary = apply_yaml(RULE)
    assert summary.created == ["notification_rule db-admin-watch"]
    rule = NotificationRule.objects.get(name="db-admin-watch")
    assert rule.spec["events"] == ["request.created", "access.*"]
    assert [c["type"] for c in rule.spec["channels"]] == ["email", "slack", "webhook"]
    assert AuditEvent.objects.filter(action="notification_rule.created").count() == 1
    assert not apply_yaml(RULE).changed  # idempotent


def test_export_round_trips(apply_yaml, base_policy):
    apply_yaml(RULE)
    exported = policies_export()
    docs = [d for d in yaml.safe_load_all(exported) if d["kind"] == "notification_rule"]
    assert docs == [yaml.safe_load(RULE)]
    summary = policies_apply(plan=plan_from_texts([("export.yaml", exported)]))
    assert not summary.changed


def test_prune_deletes_rules_not_in_the_files(apply_yaml):
    apply_yaml(RULE)
    apply_yaml("kind: role\nname: lonely\n", prune=True)
    assert not NotificationRule.objects.exists()
    assert AuditEvent.objects.filter(action="notification_rule.deleted").count() == 1


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("{type: pager}", "spec.channels[0].type: must be one of email, slack, webhook"),
        ("{type: slack}", "give exactly one of url or url_env"),
        ("{type: slack, url: a, url_env: B}", "give exactly one of url or url_env"),
        ("{type: slack, url: 'ftp://x'}", "must be an http:// or https:// URL"),
        (
            "{type: slack, url: 'http://hooks.example.com/x'}",
            "must use https (plain http only to a loopback",
        ),
        ("{type: webhook, url: 'https://x'}", "secrets never go into policy files"),
        ("{type: webhook, url: 'https://x', secret_env: 'lower'}", "secret_env"),
        ("{type: email}", "list the email addresses or user names"),
        ("{type: email, to: [a@b], url: 'https://x'}", "not used by email channels"),
        ("{type: slack, url: 'https://x', secret: s3cr3t}", "spec.channels[0].secret"),
    ],
)
def test_bad_channels_are_refused_with_their_path(db, channel, expected):
    found = problems(f"kind: notification_rule\nname: r\nspec:\n  channels:\n    - {channel}\n")
    assert any(expected in p for p in found), found


def test_bad_condition_points_at_the_problem(db):
    [problem] = problems(
        """
        kind: notification_rule
        name: r
        spec:
          condition: 'contains(review.reason, "x")'
          channels: [{type: email, to: [a@example.com]}]
        """
    )
    assert "document 1 (notification_rule r): spec.condition:" in problem
    assert "variable 'review.reason' is not allowed in a notification expression" in problem


def test_unknown_event_and_missing_channels_are_refused(db):
    found = problems("kind: notification_rule\nname: r\nspec:\n  events: [request.exploded]\n")
    assert any("'request.exploded' matches no event" in p for p in found)
    assert any("spec.channels: list at least one channel" in p for p in found)


def test_notification_scope_sees_the_request_only():
    ctx = {"request": {"user": "dave", "resources": ["db/billing"], "roles": []}}
    assert parse('equals(request.user, "dave")', scope="notification").evaluate(ctx)
    assert parse('regexp.match(request.resources, "db/*")', scope="notification").evaluate(ctx)
    with pytest.raises(PredicateError, match="not allowed in a notification expression"):
        parse('contains(reviewer.roles, "x")', scope="notification")
    with pytest.raises(PredicateError, match="not allowed in a where expression"):
        parse('equals(request.user, "dave")', scope="where")


def test_admin_service_saves_renames_and_deletes_with_audit(db, admin):
    spec = {"channels": [{"type": "email", "to": ["security@example.com"]}]}
    rule = notification_rule_save(name="sec", spec=spec, actor=admin)
    with pytest.raises(ValidationFailed, match="already exists"):
        notification_rule_save(name="sec", spec=spec, actor=admin)
    with pytest.raises(ValidationFailed, match="spec.channels"):
        notification_rule_save(name="other", spec={"channels": []}, actor=admin)
    notification_rule_save(name="security", spec=spec, actor=admin, rule_id=rule.pk)
    assert list(NotificationRule.objects.values_list("name", flat=True)) == ["security"]
    notification_rule_delete(rule_id=rule.pk, actor=admin)
    assert not NotificationRule.objects.exists()
    actions = list(
        AuditEvent.objects.filter(target_type="notification_rule").values_list("action", flat=True)
    )
    assert actions == [
        "notification_rule.created",
        "notification_rule.renamed",
        "notification_rule.deleted",
    ]
