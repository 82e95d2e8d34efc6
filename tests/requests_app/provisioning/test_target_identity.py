"""A target is the real thing its identity names (the `files` provisioner: directory and
group): changing any other setting updates it in place, keeping its members."""

from __future__ import annotations

import hashlib
import json

import pytest

from policies_app.loader import PolicyFileError
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment
from tests.requests_app.provisioning.conftest import db_admin_provisioning


@pytest.fixture
def applied(dbas, approve, work, plugin):
    """alice holds db-admin and is a member of dbas; the calls made so far forgotten."""
    approve("db-admin")
    work()
    assert dbas.members == {"uid=alice"}
    plugin.CALLS.clear()
    return ProvisionTarget.objects.get(), ProvisionAssignment.objects.get()


def test_changing_other_settings_updates_the_target_in_place_and_keeps_its_members(
    applied, apply_yaml, dbas, work, plugin
):
    target, assignment = applied
    summary = apply_yaml(db_admin_provisioning(dbas.yaml(timeout=5, note="billing admins")))
    assert "provision_target group dbas" in summary.updated
    live = ProvisionTarget.objects.get()  # no second target, none retired
    assert live.pk == target.pk and live.retired_at is None
    assert live.config == dbas.target(timeout=5, note="billing admins")  # workers use this
    row = ProvisionAssignment.objects.get()
    assert (row.pk, row.desired, row.display_state) == (assignment.pk, True, "applied")
    assert work() == 0 and plugin.CALLS == []  # nothing revoked, nothing re-granted
    assert dbas.members == {"uid=alice"}


def test_managed_changes_in_place(applied, apply_yaml, dbas):
    target, assignment = applied
    apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)))
    live = ProvisionTarget.objects.get()
    assert (live.pk, live.managed, live.retired_at) == (target.pk, True, None)
    assert ProvisionAssignment.objects.get().display_state == "applied"


def test_changing_the_identity_retires_the_old_target_and_starts_a_new_one(
    applied, apply_yaml, groups, dbas, work
):
    target, _ = applied
    ops = groups("ops")
    apply_yaml(db_admin_provisioning(ops.yaml()))
    old = ProvisionTarget.objects.get(pk=target.pk)
    new = ProvisionTarget.objects.get(retired_at=None)
    assert old.retired_at is not None and new.pk != old.pk
    work()
    assert dbas.members == set() and ops.members == {"uid=alice"}


def test_a_target_keyed_by_the_old_rule_is_matched_by_identity_and_rekeyed(
    applied, apply_yaml, dbas, work, plugin
):
    target, _ = applied
    whole = json.dumps(
        {"provisioner": "files", "target": target.config}, sort_keys=True, separators=(",", ":")
    )
    ProvisionTarget.objects.filter(pk=target.pk).update(
        key=hashlib.sha256(whole.encode()).hexdigest()
    )
    apply_yaml(db_admin_provisioning(dbas.yaml(timeout=7)))
    live = ProvisionTarget.objects.get()
    assert live.pk == target.pk and live.config["timeout"] == 7
    assert work() == 0 and plugin.CALLS == [] and dbas.members == {"uid=alice"}


def test_one_target_named_with_different_settings_is_refused(apply_yaml, base_policy, groups):
    dbas = groups("dbas")
    resource = f"kind: resource\nid: db/billing\nprovision:\n  - {dbas.yaml(timeout=3)}\n"
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(db_admin_provisioning(dbas.yaml()) + "---\n" + resource)
    assert "provision[0].target: the same files target has other settings in" in str(err.value)
    apply_yaml(db_admin_provisioning(dbas.yaml()))
    with pytest.raises(PolicyFileError) as err:  # against what is stored, too
        apply_yaml(resource)
    assert "has other settings in role db-admin" in str(err.value)


@pytest.mark.parametrize(
    "value, says",
    [
        (".nan", "NaN or Infinity"),
        ("-.inf", "NaN or Infinity"),
        ("!!timestamp 2024-01-01", "a value of type date"),
        ("!!binary aGVsbG8=", "a value of type bytes"),
    ],
)
def test_values_json_cannot_store_are_a_policy_problem(
    apply_yaml, base_policy, groups, value, says
):
    """Refused at load with a clear problem (was a DataError at write: a 500)."""
    directory = groups("dbas").dir
    entry = f'{{provisioner: files, target: {{dir: "{directory}", group: dbas, extra: {value}}}}}'
    with pytest.raises(PolicyFileError) as err:
        apply_yaml(db_admin_provisioning(entry))
    assert "spec.provision[0].target: holds a value JSON cannot store" in str(err.value)
    assert says in str(err.value)
    assert not ProvisionTarget.objects.exists()


def test_rekeying_moves_aside_a_retired_row_holding_the_identity_key(
    applied, apply_yaml, dbas, work, plugin
):
    """Older rows of one identity (a retired one already keyed by it): the live one keeps
    its members and takes the key; the retired one stays retired."""
    from policies_app.documents.provision import target_key

    target, _ = applied
    key = target_key("files", target.config)
    ProvisionTarget.objects.filter(pk=target.pk).update(key="0" * 64)  # an older rule's key
    old = ProvisionTarget.objects.create(
        key=key, provisioner="files", config=dbas.target(timeout=1), retired_at=target.created
    )
    apply_yaml(db_admin_provisioning(dbas.yaml(timeout=3)))
    live = ProvisionTarget.objects.get(retired_at=None)
    old.refresh_from_db()
    assert (live.pk, live.key, live.config["timeout"]) == (target.pk, key, 3)
    assert old.retired_at is not None and old.key != key
    assert work() == 0 and plugin.CALLS == [] and dbas.members == {"uid=alice"}
