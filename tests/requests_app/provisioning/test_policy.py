"""`provision:` in policy documents: checked at load, stored as targets, exported back."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from policies_app.loader import PolicyFileError
from policies_app.models import ProvisionTarget
from policies_app.services.export import policies_export
from policies_app.services.roles_resources import role_delete, role_save
from tests.requests_app.provisioning.conftest import db_admin_provisioning


def test_a_role_naming_a_target_creates_it_and_exports_it_back(apply_yaml, base_policy, groups):
    dbas = groups("dbas")
    summary = apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)))
    assert "provision_target group dbas" in summary.created
    target = ProvisionTarget.objects.get()
    assert (target.provisioner, target.label, target.managed) == ("files", "group dbas", True)
    assert target.roles == ["db-admin"] and target.resources == []
    assert target.config == dbas.target()
    exported = {d["name"]: d for d in yaml.safe_load_all(policies_export()) if d["kind"] == "role"}
    assert exported["db-admin"]["spec"]["provision"] == [
        {"provisioner": "files", "target": dbas.target(), "managed": True}
    ]
    assert not apply_yaml(policies_export()).changed  # the export applies as a no-op


def test_a_resource_names_targets_at_its_top_level(apply_yaml, base_policy, groups):
    dbas = groups("dbas")
    apply_yaml(
        f"kind: resource\nid: db/billing\nlabels: {{env: prod}}\nprovision:\n  - {dbas.yaml()}\n"
    )
    target = ProvisionTarget.objects.get()
    assert target.resources == ["db/billing"] and target.roles == []
    docs = [d for d in yaml.safe_load_all(policies_export()) if d.get("id") == "db/billing"]
    assert docs[0]["provision"] == [{"provisioner": "files", "target": dbas.target()}]


def test_an_unknown_provisioner_is_refused_naming_the_installed_ones(
    apply_yaml, base_policy, plugin
):
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(db_admin_provisioning("{provisioner: nope, target: {group: x}}"))
    assert "spec.provision[0].provisioner: no provisioner named 'nope' is installed" in str(
        err.value
    )
    assert "files" in str(err.value)
    assert not ProvisionTarget.objects.exists()


def test_the_provisioners_own_check_problems_point_at_the_target(apply_yaml, base_policy, plugin):
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(db_admin_provisioning("{provisioner: files, target: {dir: /tmp}}"))
    assert "spec.provision[0].target: group is required" in str(err.value)


def test_one_target_named_managed_and_unmanaged_is_refused(apply_yaml, base_policy, groups):
    dbas = groups("dbas")
    resource = f"kind: resource\nid: db/billing\nprovision:\n  - {dbas.yaml(managed=False)}\n"
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)) + "---\n" + resource)
    assert "provision[0].managed: the same files target is managed: true in" in str(err.value)
    apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)))
    with pytest.raises(PolicyFileError) as err:  # against what is stored, too
        apply_yaml(resource)
    assert "is managed: true in role db-admin" in str(err.value)


def test_a_target_no_document_names_any_more_is_retired_and_kept(apply_yaml, base_policy, groups):
    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml()))
    summary = apply_yaml(
        "kind: role\nname: db-admin\nspec:\n  allow:\n"
        "    permissions: [requests_app.check_access]\n"
        "    resources: {kinds: [db], labels: {env: [prod]}}\n"
    )
    assert "provision_target group dbas (retired)" in summary.updated
    target = ProvisionTarget.objects.get()
    assert target.retired_at is not None
    apply_yaml(db_admin_provisioning(dbas.yaml()))  # named again: back in service
    target.refresh_from_db()
    assert target.retired_at is None


def test_dry_run_probes_each_target_and_warns_without_failing(
    base_policy, groups, tmp_path, capsys
):
    dbas, gone = groups("dbas"), groups("gone")
    gone.mode("fail")
    path = tmp_path / "policy.yaml"
    path.write_text(db_admin_provisioning(dbas.yaml(), gone.yaml()))
    call_command("apply_policies", str(path), "--dry-run")
    out = capsys.readouterr().out
    assert "warning: files target group gone unreachable: group gone refused" in out
    assert "group dbas unreachable" not in out
    assert "dry run: nothing was changed" in out
    assert not ProvisionTarget.objects.exists()
    call_command("apply_policies", str(path))  # a real apply never probes, and succeeds
    assert "unreachable" not in capsys.readouterr().out
    assert ProvisionTarget.objects.count() == 2


def test_editing_a_role_in_admin_keeps_its_targets_and_deleting_it_retires_them(
    apply_yaml, base_policy, groups, admin
):
    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml()))
    role_save(  # the admin form's document has no `provision` field
        doc={"kind": "role", "name": "db-admin", "description": "DBAs", "spec": {}},
        actor=admin,
    )
    target = ProvisionTarget.objects.get()
    assert target.retired_at is None and target.roles == ["db-admin"]
    role_delete(name="db-admin", actor=admin)
    target.refresh_from_db()
    assert target.retired_at is not None
