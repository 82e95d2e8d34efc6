"""Every metric the operations guide, the alert rules and the dashboard name is one that
/metrics exports (after real traffic), and the rules and dashboard have the shape
Prometheus and Grafana load."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command

from tests.metrics.support import names
from tests.requests_app.provisioning.conftest import db_admin_provisioning

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "accessportal.json"
METRIC = re.compile(r"\b(?:accessportal|django)_[a-z0-9_]+\b")
DURATION = re.compile(r"^\d+[smhd]$")


def _doc_names() -> set[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)  # code blocks: examples, not names
    quoted = re.findall(r"`([^`]+)`", prose)
    return {q for q in quoted if re.fullmatch(r"(?:accessportal|django)_[a-z0-9_]+", q)}


def _rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def _referenced() -> dict[str, set[str]]:
    return {
        "docs/operations.md": _doc_names(),
        "alerts.yml": {m for rule in _rules() for m in METRIC.findall(rule["expr"])},
        "dashboard": {m for expr in _dashboard_exprs() for m in METRIC.findall(expr)},
    }


# A review rule asking an on-call source with no key: the lookup fails (counted), the rule
# does not fire and the request waits for bob.
ONCALL_RULE = """
kind: oncall_schedule
name: ops
spec:
  opsgenie: {schedule: ops}
---
kind: review_rule
name: ops-db
spec:
  roles: [db-admin]
  when: 'oncall("ops")'
  review: {state: APPROVED, reason: on call}
"""


@pytest.mark.django_db(transaction=True)
def test_every_metric_named_in_the_docs_rules_and_dashboard_is_exported(
    api_as, scrape, requester, reviewer, apply_yaml, groups, settings
):
    settings.ONCALL_OPSGENIE_KEY = ""
    reviewer.email = "bob@example.com"
    reviewer.save()
    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml()))
    apply_yaml(ONCALL_RULE)
    dbas.mode("fail")  # the target refuses: a failed call, a failing assignment
    created = api_as("alice").post(
        "/api/v1/requests/", {"roles": ["db-admin"], "reason": "INC-9"}, format="json"
    )
    assert created.status_code == 201, created.content
    reviewed = api_as("bob").post(
        f"/api/v1/requests/{created.json()['id']}/reviews/",
        {"state": "APPROVED", "reason": "ok"},
        format="json",
    )
    assert reviewed.status_code == 201, reviewed.content
    call_command("verify_audit", stdout=io.StringIO())  # the operator's daily check
    exported = names(scrape())
    assert "accessportal_provisioning_calls_total" in exported  # the traffic did reach it
    assert "accessportal_oncall_lookups_total" in exported
    referenced = _referenced()
    assert all(referenced.values())
    missing = {where: sorted(found - exported) for where, found in referenced.items()}
    assert missing == {where: [] for where in referenced}


def test_the_alert_rules_have_the_structure_prometheus_loads():
    document = yaml.safe_load(ALERTS.read_text())
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert set(group) == {"name", "rules"} and group["rules"]
    rules = _rules()
    alerts = [rule["alert"] for rule in rules]
    assert len(alerts) == len(set(alerts))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert re.fullmatch(r"AccessPortal[A-Za-z0-9]+", rule["alert"])
        # Our metrics, or Prometheus' own `up` of our scrape jobs.
        assert isinstance(rule["expr"], str)
        assert METRIC.search(rule["expr"]) or rule["expr"].startswith('up{job=~"accessportal')
        assert rule["expr"].count("(") == rule["expr"].count(")")
        assert "for" not in rule or DURATION.match(rule["for"])
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    # The starter set the operations guide promises.
    by_metric = {m: rule["alert"] for rule in rules for m in METRIC.findall(rule["expr"])}
    for metric in (
        "accessportal_heartbeat_age_seconds",
        "accessportal_outbox_backlog",
        "accessportal_outbox_dead_letters",
        "accessportal_audit_verification_ok",
        "accessportal_provisioning_failing",
        "accessportal_sweep_lag_seconds",
        "django_http_responses_total_by_status_view_method_total",
    ):
        assert metric in by_metric, metric
    past_ttl = next(r for r in rules if r["alert"] == "AccessPortalRequestsPastTTL")
    assert 'sweep="expire_requests"' in past_ttl["expr"]
    assert any(r["expr"].startswith("absent(accessportal_") for r in rules)
    documented = (ROOT / "docs" / "operations.md").read_text()
    assert all(f"`{alert}`" in documented or f"`{alert}`," in documented for alert in alerts)


def test_the_dashboard_is_grafana_json_with_promql_panels():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "Access Portal" and dashboard["uid"]
    (variable,) = dashboard["templating"]["list"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
    for expr in _dashboard_exprs():
        assert expr.count("(") == expr.count(")"), expr
