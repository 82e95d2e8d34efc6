"""The reconciler repairs drift both ways, audits each repair, records lag and failures on
the target, and goes on past a failing target; the two "what should be" selectors agree."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from policies_app.models import ProvisionTarget
from requests_app import tasks
from requests_app.models import ProvisionAssignment
from requests_app.selectors.provisioning import (
    desired_members_of_target,
    desired_targets_for_users,
)
from requests_app.services.provisioning import provisioning_sync
from requests_app.services.provisioning.reconcile import provision_reconcile_target
from tests.requests_app.provisioning.conftest import db_admin_provisioning

T0 = "2026-03-02 09:00Z"


def _drift(action):
    return [e.data["account"] for e in AuditEvent.objects.filter(action=action).order_by("seq")]


def test_a_managed_target_loses_accounts_added_by_hand_and_regains_missing_ones(
    apply_yaml, base_policy, groups, approve, work
):
    dbas = groups("dbas")
    apply_yaml(db_admin_provisioning(dbas.yaml(managed=True)))
    approve("db-admin")
    work()
    dbas.members = {"uid=mallory", "uid=root"}  # alice removed and two added, by hand
    assert tasks.provision_reconcile.delay().get() == {"repairs": 3, "failed": []}
    work()
    assert dbas.members == {"uid=alice"}
    assert _drift("provision.drift_removed") == ["uid=mallory", "uid=root"]
    assert _drift("provision.drift_added") == ["uid=alice"]
    target = ProvisionTarget.objects.get()
    assert target.reconcile_repairs == 3 and target.last_reconcile_error == ""
    assert target.last_reconciled_at is not None
    assert tasks.provision_reconcile.delay().get() == {"repairs": 0, "failed": []}


def test_an_unmanaged_target_keeps_accounts_it_does_not_know(dbas, approve, work):
    approve("db-admin")
    work()
    dbas.members = {"uid=alice", "uid=mallory"}
    assert tasks.provision_reconcile.delay().get() == {"repairs": 0, "failed": []}
    assert dbas.members == {"uid=alice", "uid=mallory"}


def test_a_known_user_put_back_by_hand_after_removal_is_taken_out_again(
    dbas, approve, requester, work
):
    with time_machine.travel(T0, tick=False) as clock:
        approve("db-admin", max_duration="1h")
        work()
        clock.shift(timedelta(hours=1))
        tasks.end_due_grants.delay().get()
        work()
        dbas.members = {"uid=alice"}
        assert tasks.provision_reconcile.delay().get()["repairs"] == 1
        work()
    assert dbas.members == set()
    assert _drift("provision.drift_removed") == ["uid=alice"]


def test_a_missed_expiry_is_caught_by_the_reconciler(dbas, approve, requester, work):
    with time_machine.travel(T0, tick=False) as clock:
        approve("db-admin", max_duration="1h")
        work()
        clock.shift(timedelta(hours=2))  # no end_due_grants ran
        tasks.provision_reconcile.delay().get()
        work()
    assert dbas.members == set()


def test_a_failing_target_is_recorded_and_the_others_are_reconciled(
    apply_yaml, base_policy, groups, approve, work, settings
):
    gone, fine = groups("gone"), groups("fine")
    apply_yaml(db_admin_provisioning(gone.yaml(managed=True), fine.yaml(managed=True)))
    approve("db-admin")
    work()
    gone.mode("gone")
    fine.members = {"uid=intruder", "uid=alice"}
    with time_machine.travel(timezone.now(), tick=False) as clock:
        result = tasks.provision_reconcile.delay().get()
        failing = ProvisionTarget.objects.get(label="group gone")
        assert result == {"repairs": 1, "failed": [failing.pk]}
        assert "group gone refused" in failing.last_reconcile_error
        assert fine.members == {"uid=alice"}
        clock.shift(timedelta(seconds=settings.PROVISION_RECONCILE_INTERVAL + 7))
        tasks.provision_reconcile.delay().get()
    assert ProvisionTarget.objects.get(label="group fine").reconcile_lag_seconds == 7.0


def test_both_selectors_of_what_should_be_agree(
    apply_yaml, base_policy, groups, approve, user, work
):
    dbas, reviewers, nodes = groups("dbas"), groups("reviewers"), groups("nodes")
    apply_yaml(
        db_admin_provisioning(dbas.yaml()) + "---\nkind: role\nname: reviewer\nspec:\n  allow:\n"
        "    review_requests: {roles: [db-admin, dev-admin, prod-access, reviewer]}\n"
        f"  provision:\n    - {reviewers.yaml()}\n    - {dbas.yaml()}\n"
        "---\nkind: resource\nid: node/db-prod-1\nlabels: {env: prod, team: pay}\n"
        f"provision:\n  - {nodes.yaml()}\n"
    )
    approve("db-admin", resources=["node/db-prod-1"])
    user_ids = list(user(n).pk for n in ("alice", "bob", "carol", "erin", "mallory"))
    now = timezone.now()
    per_user = desired_targets_for_users(user_ids, now)
    for target in ProvisionTarget.objects.all():
        members = desired_members_of_target(target, now)
        assert members == {uid for uid, ts in per_user.items() if target.pk in ts}
    labels = dict(ProvisionTarget.objects.values_list("pk", "label"))
    named = {user_id: {labels[t] for t in ts} for user_id, ts in per_user.items()}
    assert named[user("alice").pk] == {"group dbas", "group nodes"}  # granted role, resource
    assert named[user("bob").pk] == {"group dbas", "group reviewers"}  # standing role
    assert named[user("erin").pk] == set()


def test_syncing_costs_one_query_when_nothing_is_provisioned(requester, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert provisioning_sync([requester.pk]) == 0
    assert not ProvisionAssignment.objects.exists()


def test_reconciling_costs_the_same_queries_for_many_members_as_for_few(
    apply_yaml, base_policy, groups, work
):
    """No query per member: reconciling 20 members (and repairing 20) runs as many queries
    as 2 (the bench figures for 10,000 are in bench/README.md, "Provisioning")."""
    sizes = {"few": 2, "many": 20}
    docs = []
    for name, size in sizes.items():
        group = groups(name)
        entry = group.yaml(managed=True)
        docs.append(f"kind: role\nname: {name}\nspec:\n  provision:\n    - {entry}")
        docs += [f"kind: user\nname: {name}-{k}\nroles: [{name}]" for k in range(size)]
    apply_yaml("\n---\n".join(docs))
    work()
    targets = {t.roles[0]: t.pk for t in ProvisionTarget.objects.all()}

    def reconcile(name: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            repairs = provision_reconcile_target(target_id=targets[name])
        return repairs, len(queries.captured_queries)

    clean = {name: reconcile(name) for name in sizes}
    assert clean["few"][0] == clean["many"][0] == 0
    assert clean["few"][1] == clean["many"][1]
    for name in sizes:
        groups(name).members = set()  # every member removed by hand
    drifted = {name: reconcile(name) for name in sizes}
    assert drifted["few"][0] == 2 and drifted["many"][0] == 20
    assert drifted["few"][1] == drifted["many"][1]
    work()
    assert groups("many").members == {f"uid=many-{k}" for k in range(20)}
    assert len(_drift("provision.drift_added")) == 22
