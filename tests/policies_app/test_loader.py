"""The policy loader: good files, each kind of bad file, idempotency, prune, round trip."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from django.core.management import CommandError, call_command

from accessportal.kernel.models import AuditEvent
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.models import Resource, Role
from policies_app.services.apply import policies_apply
from policies_app.services.export import policies_export

GOOD = """
kind: role
name: populist
spec:
  allow:
    request:
      roles: [dictator, "db-*", "^dev-[a-z]+$"]
      search_as_roles: [db-readers]
      thresholds:
        - {name: consensus, approve: 3}
        - {name: uprising, filter: 'contains(reviewer.roles, "proletariat")', approve: 2, deny: 2}
      suggested_reviewers: [carol]
      max_duration: 3d
      reason: {mode: required, prompt: "Ticket number and why"}
      annotations: {mechanism: [uprising, consensus]}
    review_requests:
      roles: [dictator]
      where: 'contains(request.annotations["mechanism"], "uprising")'
    resources:
      kinds: [node, db]
      labels: {env: [prod]}
    permissions: [requests_app.check_access]
  deny:
    request: {roles: [root]}
    review_requests: {roles: [root]}
  options:
    request_access: reason
---
kind: role
name: dictator
---
kind: role
name: db-readers
---
kind: user
name: alice
roles: [populist]
traits: {team: [pay]}
---
kind: resource
id: node/db-prod-1
labels: {env: prod, team: pay}
"""


def plan(text: str):
    return plan_from_texts([("policy.yaml", textwrap.dedent(text))])


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as err:
        plan(text)
    return err.value.problems


def test_good_file_loads_everything(db):
    summary = policies_apply(plan=plan(GOOD))
    assert len(summary.created) == 5
    role = Role.objects.get(name="populist")
    assert role.spec["allow"]["request"]["max_duration"] == 3 * 86400
    assert role.spec["allow"]["request"]["thresholds"][0] == {
        "name": "consensus",
        "filter": "",
        "approve": 3,
        "deny": 0,
    }
    assert list(role.members.values_list("username", flat=True)) == ["alice"]
    assert Resource.objects.get(kind="node", name="db-prod-1").labels == {
        "env": "prod",
        "team": "pay",
    }
    assert AuditEvent.objects.filter(action="role.created").count() == 3


def test_applying_twice_changes_nothing_the_second_time(db):
    policies_apply(plan=plan(GOOD))
    events = AuditEvent.objects.count()
    summary = policies_apply(plan=plan(GOOD))
    assert not summary.changed and len(summary.unchanged) == 5
    assert AuditEvent.objects.count() == events


def test_dry_run_changes_nothing(db):
    summary = policies_apply(plan=plan(GOOD), dry_run=True)
    assert len(summary.created) == 5
    assert not Role.objects.exists() and not AuditEvent.objects.exists()


def test_prune_deletes_roles_and_resources_not_in_the_files(db):
    policies_apply(plan=plan(GOOD))
    smaller = GOOD.split("---\nkind: resource")[0].replace(
        "kind: role\nname: db-readers\n---\n", ""
    )
    summary = policies_apply(plan=plan(smaller), prune=True)
    assert sorted(summary.deleted) == ["resource node/db-prod-1", "role db-readers"]
    assert not Role.objects.filter(name="db-readers").exists()


def test_round_trip_export_apply_export_is_stable(db):
    policies_apply(plan=plan(GOOD))
    first = policies_export()
    summary = policies_apply(plan=plan(first))
    assert not summary.changed
    assert policies_export() == first
    exported = list(yaml.safe_load_all(first))
    populist = next(d for d in exported if d.get("name") == "populist")
    assert populist["spec"]["allow"]["request"]["max_duration"] == "3d"


def test_yaml_syntax_error_names_the_line(db):
    found = problems("kind: role\nname: x\nspec: {allow: [\n")
    assert len(found) == 1 and "policy.yaml: line" in found[0] and "not valid YAML" in found[0]


def test_unknown_kind_is_refused(db):
    assert (
        "kind: must be role, user, resource, notification_rule, sso_mapping, review_rule, "
        "oncall_schedule or access_review (got 'rol')" in problems("kind: rol\nname: x\n")[0]
    )


def test_unknown_field_is_refused_with_its_path(db):
    found = problems("kind: role\nname: x\nspec:\n  allow:\n    request:\n      rolez: [a]\n")
    assert found == [
        "policy.yaml: document 1 (role x): spec.allow.request.rolez: unknown field "
        "(allowed: annotations, break_glass, max_duration, reason, reminders, roles, "
        "search_as_roles, "
        "suggested_reviewers, thresholds)"
    ]


def test_bad_predicate_names_document_field_and_position(db):
    found = problems(
        "kind: role\nname: x\nspec:\n  allow:\n    review_requests:\n"
        "      where: 'contains(request.roles, \"a\") && frobnicate(1)'\n"
    )
    assert "(role x): spec.allow.review_requests.where:" in found[0]
    assert "frobnicate" in found[0] and "position 32" in found[0]


def test_unknown_variable_is_refused_at_load_time(db):
    found = problems(
        "kind: role\nname: x\nspec:\n  allow:\n    request:\n      roles: [a]\n"
        "      thresholds: [{approve: 1, filter: 'contains(reviewer.secrets, \"a\")'}]\n"
    )
    assert "spec.allow.request.thresholds[0].filter" in found[0] and "reviewer.secrets" in found[0]


def test_bad_threshold_counts_are_refused(db):
    found = problems(
        "kind: role\nname: x\nspec:\n  allow:\n    request:\n      roles: [a]\n"
        "      thresholds: [{approve: -1}, {deny: two}]\n"
    )
    assert [p.split(": ")[2] for p in found] == [
        "spec.allow.request.thresholds[0].approve",
        "spec.allow.request.thresholds[1].deny",
    ]


def test_max_duration_above_fourteen_days_is_refused(db):
    found = problems(
        "kind: role\nname: x\nspec:\n  allow:\n    request:\n      max_duration: 15d\n"
    )
    assert "spec.allow.request.max_duration: at most 14d" in found[0]


def test_invalid_regex_pattern_is_refused(db):
    found = problems(
        "kind: role\nname: x\nspec:\n  allow:\n    request:\n      roles: ['^db-($']\n"
    )
    assert "spec.allow.request.roles[0]" in found[0]


def test_user_naming_an_unknown_role_is_refused(db):
    assert "roles: no role named 'ghost'" in problems("kind: user\nname: u\nroles: [ghost]\n")[0]


def test_unknown_permission_is_refused(db):
    found = problems("kind: role\nname: x\nspec:\n  allow:\n    permissions: [requests_app.fly]\n")
    assert "no Django permission 'requests_app.fly'" in found[0]


def test_duplicate_definitions_are_refused(db):
    found = problems("kind: role\nname: x\n---\nkind: role\nname: x\n")
    assert "defined twice (first in policy.yaml: document 1)" in found[0]


def test_bad_resource_id_and_labels_are_refused(db):
    found = problems("kind: resource\nid: nokind\nlabels: {env: [a, b]}\n")
    assert len(found) == 2 and "id:" in found[0] and "labels.env" in found[1]


def test_every_problem_is_reported_and_nothing_changes(db, tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(
        "kind: role\nname: 'has space'\n---\nkind: role\nname: y\nspec: {deny: {x: 1}}\n"
    )
    with pytest.raises(CommandError, match="2 problem"):
        call_command("apply_policies", str(good), str(bad))
    err = capsys.readouterr().err
    assert "bad.yaml: document 1" in err and "bad.yaml: document 2" in err
    assert not Role.objects.exists()


def test_apply_policies_command_dry_run_and_apply(db, tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD)
    call_command("apply_policies", str(path), "--dry-run")
    assert "dry run" in capsys.readouterr().out and not Role.objects.exists()
    call_command("apply_policies", str(path))
    assert "5 created" in capsys.readouterr().out
    call_command("export_policies")
    assert "name: populist" in capsys.readouterr().out


def test_missing_file_is_reported(db, tmp_path):
    with pytest.raises(CommandError):
        call_command("apply_policies", str(tmp_path / "absent.yaml"))
