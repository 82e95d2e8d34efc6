"""Roles, role policies and resources edited in admin: the loader's checks with errors on
the field, every change through a service and audited, and an "export as YAML" view."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accessportal.kernel.models import AuditEvent
from policies_app.forms import RoleForm
from policies_app.loader import plan_from_files
from policies_app.models import Resource, Role
from policies_app.services.apply import policies_apply
from policies_app.services.export import policies_export
from requests_app.selectors import requests_needing_review
from tests.policies import engineer_requests

ROLE_ADD = reverse("admin:policies_app_role_add")
RESOURCE_ADD = reverse("admin:policies_app_resource_add")


def role_change(role: Role) -> str:
    return reverse("admin:policies_app_role_change", args=[role.pk])


def form_data(role: Role | None = None, **changes) -> dict:
    """What the admin form posts when nothing is touched, with `changes` typed in."""
    form = RoleForm(instance=role)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is not None:  # an unselected multiple choice posts nothing at all
            data[name] = value
    data.update(changes)
    return data


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.values_list("action", "target_id", "actor_name"))


def test_role_created_in_admin_goes_through_the_loader_and_is_audited(root_client, user):
    data = form_data(
        name="oncall",
        description="On-call engineers",
        request_roles="db-admin\n^dev-[a-z]+$",
        thresholds="- {name: pair, approve: 2, deny: 1}",
        max_duration="4h",
        reason_mode="required",
        reason_prompt="Incident number",
        review_roles="dev-admin",
        review_where='contains(request.annotations["team"], "pay")',
        policy_members=[user("mallory").pk],
    )
    response = root_client.post(ROLE_ADD, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    role = Role.objects.get(name="oncall")
    request_rule = role.spec["allow"]["request"]
    assert request_rule["roles"] == ["db-admin", "^dev-[a-z]+$"]
    assert request_rule["thresholds"] == [{"name": "pair", "filter": "", "approve": 2, "deny": 1}]
    assert request_rule["max_duration"] == 4 * 3600
    assert request_rule["reason"] == {"mode": "required", "prompt": "Incident number"}
    assert list(role.members.values_list("username", flat=True)) == ["mallory"]
    assert ("role.created", "oncall", "root") in actions()
    assert ("user.policy_set", "mallory", "root") in actions()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("review_where", "frobnicate(request.roles)", "unknown function 'frobnicate'"),
        ("review_where", 'contains(request.roles, "x"', "at position"),
        ("deny_review_where", "review.reason", "review.reason"),
        ("thresholds", "- {name: pair, approve: -1}", "item 1, approve: must be a whole number"),
        (
            "thresholds",
            "- {name: pair, approve: 1, filter: 'contains(reviewer.rolez, \"x\")'}",
            "item 1, filter: unknown variable",
        ),
        ("thresholds", "- {name: pair, aprove: 2}", "item 1, aprove: unknown field"),
        ("thresholds", "- [unclosed", "not valid YAML"),
        ("thresholds", "name: pair", "must be a list"),
        ("request_roles", "db-admin\n^dev-[$", "item 2"),
        ("max_duration", "15d", "at most 14d"),
        ("max_duration", "soon", "is not a duration"),
        ("permissions", "nope.nothing", "no Django permission 'nope.nothing'"),
        ("permissions", "not a permission", "is not app_label.codename"),
        ("resource_labels", "env: {a: b}", "must be a list of strings"),
        ("name", "has spaces", "no spaces"),
    ],
)
def test_policy_problems_are_shown_on_their_field_and_nothing_is_saved(
    root_client, field, value, message
):
    before = actions()
    data = form_data(**{"name": "oncall", field: value})
    response = root_client.post(ROLE_ADD, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert any(message in e for e in errors[field]), errors[field]
    assert not Role.objects.filter(name="oncall").exists()
    assert actions() == before


def test_predicate_errors_point_at_the_problem(root_client):
    response = root_client.post(ROLE_ADD, form_data(name="oncall", review_where="equals(a, b)"))
    text = response.content.decode()
    assert "at position 7" in text and "^" in text


@pytest.fixture
def demo(db, admin):
    plan = plan_from_files([Path(settings.BASE_DIR) / "examples" / "demo.yaml"])
    policies_apply(plan=plan)


def test_saving_a_role_unchanged_changes_nothing(root_client, demo):
    """Every demo role survives the form round trip exactly: no update, no audit event."""
    before_specs = dict(Role.objects.values_list("name", "spec"))
    before = actions()
    for role in Role.objects.all():
        response = root_client.post(role_change(role), form_data(role))
        assert response.status_code == 302, (role.name, response.context["adminform"].form.errors)
    assert dict(Role.objects.values_list("name", "spec")) == before_specs
    assert actions() == before


def test_saving_a_role_keeps_what_the_form_has_no_field_for(root_client, base_policy, apply_yaml):
    """Reminder tiers and break-glass have no admin field: an edit elsewhere keeps them."""
    apply_yaml(
        engineer_requests(
            """
            reminders:
              - {after: 30m}
              - {after: 2h, notify: [reviewer, "#sre"]}
            break_glass: {ratify_within: 1h, notify: [carol]}
            """
        )
    )
    role = Role.objects.get(name="engineer")
    before = role.spec["allow"]["request"]
    assert before["reminders"] and before["break_glass"]
    response = root_client.post(role_change(role), form_data(role, description="edited"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    role.refresh_from_db()
    assert role.description == "edited"
    after = role.spec["allow"]["request"]
    assert after["reminders"] == before["reminders"]
    assert after["break_glass"] == before["break_glass"]


def test_editing_a_role_is_audited_and_resyncs_reviewers(root_client, make_request, user):
    request = make_request(["db-admin"])
    mallory = user("mallory")
    assert not requests_needing_review(mallory).exists()
    reviewer = Role.objects.get(name="reviewer")
    members = [*reviewer.members.values_list("pk", flat=True), mallory.pk]
    response = root_client.post(role_change(reviewer), form_data(reviewer, policy_members=members))
    assert response.status_code == 302
    assert ("user.policy_set", "mallory", "root") in actions()
    assert list(requests_needing_review(mallory)) == [request]

    response = root_client.post(
        role_change(reviewer), form_data(reviewer, review_roles="dev-admin")
    )
    assert response.status_code == 302
    reviewer.refresh_from_db()
    assert reviewer.spec["allow"]["review_requests"]["roles"] == ["dev-admin"]
    event = AuditEvent.objects.filter(action="role.updated", target_id="reviewer").last()
    assert event.actor_name == "root"
    assert event.data["before"]["allow"]["review_requests"]["roles"][0] == "db-admin"
    assert not requests_needing_review(mallory).exists()


def test_role_name_cannot_be_changed(root_client, base_policy):
    role = Role.objects.get(name="dev-admin")
    root_client.post(role_change(role), form_data(role, name="renamed"))
    assert Role.objects.filter(name="dev-admin").exists()
    assert not Role.objects.filter(name="renamed").exists()


def test_deleting_a_role_goes_through_the_service(root_client, base_policy):
    role = Role.objects.get(name="dev-admin")
    url = reverse("admin:policies_app_role_delete", args=[role.pk])
    assert root_client.post(url, {"post": "yes"}).status_code == 302
    assert not Role.objects.filter(name="dev-admin").exists()
    assert ("role.deleted", "dev-admin", "root") in actions()


def test_bulk_deleting_roles_goes_through_the_service(root_client, base_policy):
    pks = list(Role.objects.filter(name__in=["dev-admin", "auditor"]).values_list("pk", flat=True))
    data = {"action": "delete_selected", "post": "yes", ACTION_CHECKBOX_NAME: pks}
    root_client.post(reverse("admin:policies_app_role_changelist"), data)
    assert not Role.objects.filter(name__in=["dev-admin", "auditor"]).exists()
    deleted = {t for a, t, _ in actions() if a == "role.deleted"}
    assert deleted == {"dev-admin", "auditor"}


def test_resource_created_edited_and_deleted_through_the_service(root_client, base_policy):
    response = root_client.post(
        RESOURCE_ADD,
        {"kind": "db", "name": "ledger", "labels": "env: prod\nteam: pay", "description": ""},
    )
    assert response.status_code == 302
    row = Resource.objects.get(kind="db", name="ledger")
    assert row.labels == {"env": "prod", "team": "pay"}
    change = reverse("admin:policies_app_resource_change", args=[row.pk])
    response = root_client.post(change, {"labels": "env: dev", "description": "Ledger DB"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.labels, row.description) == ({"env": "dev"}, "Ledger DB")
    delete = reverse("admin:policies_app_resource_delete", args=[row.pk])
    assert root_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Resource.objects.filter(kind="db", name="ledger").exists()
    assert [a for a, t, _ in actions() if t == "db/ledger"] == [
        "resource.created",
        "resource.updated",
        "resource.deleted",
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "Node", "name": "x"}, "kind", "is not kind/name"),
        ({"kind": "node", "name": "bad name"}, "name", "is not kind/name"),
        ({"kind": "node", "name": "x", "labels": "env: [a, b]"}, "labels", "must be a string"),
        ({"kind": "node", "name": "x", "labels": "- env"}, "labels", "must be a mapping"),
        ({"kind": "node", "name": "db-prod-1"}, None, "already exists"),
    ],
)
def test_resource_problems_are_shown_on_their_field(root_client, base_policy, data, field, message):
    before = Resource.objects.count()
    response = root_client.post(RESOURCE_ADD, {"labels": "", "description": "", **data})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    found = errors.get(field or "__all__", [])
    assert any(message in e for e in found), errors
    assert Resource.objects.count() == before


def test_export_as_yaml_shows_and_downloads_what_apply_policies_takes(root_client, base_policy):
    url = reverse("admin:policies_app_role_export")
    changelist = root_client.get(reverse("admin:policies_app_role_changelist")).content.decode()
    assert url in changelist
    page = root_client.get(url)
    assert page.status_code == 200
    assert "kind: role" in page.content.decode() and "name: engineer" in page.content.decode()
    download = root_client.get(url + "?download=1")
    assert download["Content-Disposition"] == 'attachment; filename="policies.yaml"'
    text = download.content.decode()
    assert text == policies_export()
    assert {d["kind"] for d in yaml.safe_load_all(text)} == {"role", "user", "resource"}


def test_staff_without_policy_permissions_cannot_edit_or_export(login, base_policy):
    client = login("bob")
    assert client.get(ROLE_ADD).status_code == 403
    assert client.get(reverse("admin:policies_app_role_export")).status_code == 403
    role = Role.objects.get(name="dev-admin")
    assert client.post(role_change(role), form_data(role)).status_code == 403


def test_view_only_users_see_the_policy_as_yaml(staff, base_policy):
    erin = staff("erin")
    erin.user_permissions.add(Permission.objects.get(codename="view_role"))
    client = Client()
    client.force_login(erin)
    role = Role.objects.get(name="reviewer")
    page = client.get(role_change(role))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="_save"' not in text
    assert "review_requests:" in text and "- db-admin" in text
    assert client.post(role_change(role), form_data(role)).status_code == 403
