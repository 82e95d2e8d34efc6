"""Provisioning in the API: each grant's `status` (with "revoking") and per-target
`provisioning` rows, computed in bulk for the page; the targets endpoint for operators.

The engine's own test provisioner (a real plugin installed by entry point) plays the
target: tests/requests_app/provisioning/conftest.py."""

from __future__ import annotations

import pytest

from accessportal.kernel.models import AuditEvent
from policies_app.models import ProvisionTarget
from requests_app.services.grants import access_request_revoke
from tests.requests_app.api.conftest import url
from tests.requests_app.provisioning.conftest import db_admin_provisioning

OPS_POLICY = """
kind: role
name: provisioning-viewer
spec:
  allow:
    permissions: [policies_app.view_provisiontarget]
---
kind: role
name: provisioning-operator
spec:
  allow:
    permissions: [policies_app.view_provisiontarget, policies_app.change_provisiontarget]
---
kind: user
name: vic
roles: [provisioning-viewer]
---
kind: user
name: otto
roles: [provisioning-operator]
"""


@pytest.fixture
def two_groups(api_policy, apply_yaml, groups):
    """db-admin provisions "ok" and "down"; the operators' roles exist."""
    ok, down = groups("ok"), groups("down")
    apply_yaml(db_admin_provisioning(ok.yaml(), down.yaml()) + "---\n" + OPS_POLICY)
    return ok, down


def rows_of(grant: dict) -> dict[str, dict]:
    return {row["target"]: row for row in grant["provisioning"]}


def test_a_grant_shows_each_target_applied_or_failed_with_the_error(api, two_groups, approve, work):
    ok, down = two_groups
    down.mode("fail")
    approve("db-admin")
    work()
    body = api("alice").get(url("grants/")).json()
    (grant,) = body["results"]
    assert grant["status"] == "active"
    rows = rows_of(grant)
    assert rows["group ok"]["state"] == "applied"
    assert rows["group ok"]["provisioner"] == "files"
    assert rows["group ok"]["error"] == ""
    assert rows["group down"]["state"] == "failed"
    assert "group down refused" in rows["group down"]["error"]
    assert rows["group down"]["updated"].endswith("Z")


def test_a_revoked_grant_is_revoking_until_the_failing_target_confirms(
    api, two_groups, approve, work, requester
):
    ok, down = two_groups
    request = approve("db-admin")
    work()
    down.mode("fail")
    access_request_revoke(request_id=request.id, actor=requester, reason="done")
    work()
    (grant,) = api("alice").get(url("grants/")).json()["results"]
    assert grant["status"] == "revoking"
    assert grant["revoked"] is True
    rows = rows_of(grant)
    assert rows["group ok"]["state"] == "removed"
    assert rows["group down"]["state"] == "revoking"
    assert "refused" in rows["group down"]["error"]


def test_grants_without_targets_have_no_rows(api, api_policy, approve):
    approve("dev-admin")
    (grant,) = api("alice").get(url("grants/")).json()["results"]
    assert grant["provisioning"] == [] and grant["status"] == "active"


def test_me_shows_provisioning_of_active_grants(api, two_groups, approve, work):
    approve("db-admin")
    work()
    (grant,) = api("alice").get(url("me/")).json()["active_grants"]
    assert {r["state"] for r in grant["provisioning"]} == {"applied"}


def test_nobody_sees_provisioning_of_grants_they_may_not_see(api, two_groups, approve, work):
    approve("db-admin")
    work()
    assert api("mallory").get(url("grants/")).json()["results"] == []
    assert api("vic").get(url("grants/")).json()["results"] == []


def test_grant_provisioning_costs_the_same_queries_for_one_grant_or_twenty(
    api, two_groups, approve, work, django_assert_max_num_queries
):
    client = api("alice")
    approve("db-admin")

    def measure() -> tuple[int, int]:
        with django_assert_max_num_queries(14) as captured:
            response = client.get(url("grants/"))
        assert response.status_code == 200
        return len(captured), len(response.json()["results"])

    small, one = measure()
    for _ in range(19):
        approve("db-admin")
    work()
    large, twenty = measure()
    assert (one, twenty) == (1, 20)
    assert large == small


# --- the targets endpoint -------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "status"),
    [("vic", 200), ("otto", 200), ("root", 200), ("alice", 403), ("erin", 403), (None, 401)],
)
def test_targets_are_shown_to_holders_of_the_view_permission_only(
    api, two_groups, admin, persona, status
):
    client = api(persona)
    listed = client.get(url("provisioning/targets/"))
    assert listed.status_code == status
    target_id = ProvisionTarget.objects.order_by("id").first().pk
    assert client.get(url(f"provisioning/targets/{target_id}/")).status_code == status


def test_a_target_shows_reconcile_state_and_counts_but_no_secret(
    api, two_groups, approve, work, monkeypatch
):
    ok, down = two_groups
    monkeypatch.setenv("FILES_TOKEN", "s3cr3t-value")
    down.mode("fail")
    approve("db-admin")
    work()
    body = api("vic").get(url("provisioning/targets/")).json()
    by_label = {t["label"]: t for t in body["results"]}
    assert set(by_label) == {"group ok", "group down"}
    down_row = by_label["group down"]
    assert down_row["provisioner"] == "files"
    assert down_row["roles"] == ["db-admin"]
    assert down_row["retired"] is False
    assert down_row["assignments"]["failed"] == 1 and down_row["failing"] == 1
    assert by_label["group ok"]["assignments"]["applied"] == 1
    assert by_label["group ok"]["failing"] == 0
    assert "s3cr3t-value" not in str(body)
    assert api("vic").get(url("provisioning/targets/999999/")).status_code == 404
    assert api("vic").get(url("provisioning/targets/nope/")).status_code == 404


def test_reconcile_now_needs_the_change_permission_and_is_audited(
    api, two_groups, admin, approve, work, django_capture_on_commit_callbacks
):
    ok, _ = two_groups
    approve("db-admin")
    work()
    ok.members = set()  # alice's membership lost by hand: a drift the reconciler repairs
    target = ProvisionTarget.objects.get(label="group ok")
    path = url(f"provisioning/targets/{target.pk}/reconcile/")
    assert api("vic").post(path).status_code == 403
    assert api("alice").post(path).status_code == 403
    assert not AuditEvent.objects.filter(action="provision.reconcile_requested").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = api("otto").post(path)
    assert response.status_code == 202
    assert response.json() == {"target": target.pk, "queued": True}
    event = AuditEvent.objects.get(action="provision.reconcile_requested")
    assert event.actor_name == "otto"
    target.refresh_from_db()
    assert target.last_reconciled_at is not None
    work()
    assert ok.members == {"uid=alice"}
    assert api("root").post(path).status_code == 202
