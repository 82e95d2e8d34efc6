"""Grants take effect in the targets: applied after commit, removed when access ends or is
revoked, kept while another grant or a standing role needs it, audited."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app import tasks
from requests_app.models import Grant, ProvisionAssignment
from requests_app.selectors.provisioning import grants_provisioning
from requests_app.services.deprovision import user_deprovision
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit
from tests.requests_app.provisioning.conftest import db_admin_provisioning

T0 = "2026-03-02 09:00Z"


def _assignment(user):
    return ProvisionAssignment.objects.get(user=user)


def _rows(request):
    grants = list(Grant.objects.filter(request=request))
    return grants_provisioning(grants, now=timezone.now())[grants[0].pk]


def test_approval_puts_the_user_in_the_target_after_commit(
    dbas, approve, requester, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        request = approve("db-admin")
    assert _assignment(requester).display_state == "pending"  # nothing called in the commit
    assert dbas.members == set()
    assert _rows(request).rows[0]["state"] == "pending"
    for callback in queued:  # what the commit sends to the workers
        callback()
    assert dbas.members == {"uid=alice"}
    row = _assignment(requester)
    assert (row.display_state, row.account, row.attempts) == ("applied", "uid=alice", 0)
    event = AuditEvent.objects.get(action="provision.applied")
    assert event.data["account"] == "uid=alice" and event.data["target"] == "group dbas"
    rows = _rows(request)
    assert rows.rows == [
        {
            "target": "group dbas",
            "provisioner": "files",
            "state": "applied",
            "error": "",
            "updated": row.updated,
        }
    ]
    assert not rows.revoking


def test_expiry_takes_the_user_out_and_the_grant_shows_revoking_until_done(
    dbas, approve, requester, work
):
    with time_machine.travel(T0, tick=False) as clock:
        request = approve("db-admin", max_duration="1h")
        work()
        assert dbas.members == {"uid=alice"}
        clock.shift(timedelta(hours=1))
        tasks.end_due_grants.delay().get()
        assert _assignment(requester).display_state == "revoking"
        assert _rows(request).revoking
        work()
        assert dbas.members == set()
        assert _assignment(requester).display_state == "removed"
        assert not _rows(request).revoking
        assert _rows(request).rows[0]["state"] == "removed"
    assert AuditEvent.objects.filter(action="provision.removed").count() == 1


def test_revocation_takes_the_user_out(dbas, approve, requester, work):
    request = approve("db-admin")
    work()
    access_request_revoke(request_id=request.id, actor=requester, reason="done early")
    assert _rows(request).revoking
    work()
    assert dbas.members == set()
    assert not _rows(request).revoking


def test_overlapping_grants_keep_the_member_until_the_last_one_ends(dbas, approve, requester, work):
    with time_machine.travel(T0, tick=False) as clock:
        first = approve("db-admin", max_duration="1h")
        clock.shift(timedelta(minutes=30))
        approve("db-admin", max_duration="2h")
        work()
        assert dbas.members == {"uid=alice"}
        clock.shift(timedelta(minutes=30))  # the first grant ends
        tasks.end_due_grants.delay().get()
        work()
        assert dbas.members == {"uid=alice"}
        assert _rows(first).rows[0]["state"] == "kept" and not _rows(first).revoking
        clock.shift(timedelta(hours=1, minutes=30))  # and the second
        tasks.end_due_grants.delay().get()
        work()
        assert dbas.members == set()
    assert AuditEvent.objects.filter(action="provision.applied").count() == 1
    assert AuditEvent.objects.filter(action="provision.removed").count() == 1


def test_standing_role_holders_are_members_while_they_hold_it(
    apply_yaml, base_policy, groups, user, work
):
    reviewers = groups("reviewers")
    apply_yaml(
        "kind: role\nname: reviewer\nspec:\n  allow:\n"
        "    review_requests: {roles: [db-admin, dev-admin, prod-access, reviewer]}\n"
        f"  provision:\n    - {reviewers.yaml()}\n"
    )
    work()
    assert reviewers.members == {"uid=bob", "uid=carol"}
    apply_yaml("kind: user\nname: carol\nroles: []\n")
    work()
    assert reviewers.members == {"uid=bob"}
    user_deprovision(user_id=user("bob").pk, actor="scim:okta", reason="left")
    work()
    assert reviewers.members == set()


def test_a_resource_grant_provisions_the_resources_targets(
    apply_yaml, base_policy, groups, approve, work
):
    nodes = groups("nodes")
    apply_yaml(
        "kind: resource\nid: node/db-prod-1\nlabels: {env: prod, team: pay}\n"
        f"provision:\n  - {nodes.yaml()}\n"
    )
    approve(resources=["node/db-prod-1"])
    work()
    assert nodes.members == {"uid=alice"}


def test_a_retired_target_loses_its_members(dbas, apply_yaml, approve, work):
    approve("db-admin")
    work()
    assert dbas.members == {"uid=alice"}
    apply_yaml(
        "kind: role\nname: db-admin\nspec:\n  allow:\n"
        "    permissions: [requests_app.check_access]\n"
    )
    work()
    assert dbas.members == set()


def test_deprovisioning_takes_the_user_out_of_every_target(dbas, approve, requester, work):
    approve("db-admin")
    work()
    user_deprovision(user_id=requester.pk, actor="scim:okta", reason="left")
    work()
    assert dbas.members == set()


def test_a_user_without_an_account_in_the_target_fails_with_a_clear_error(
    dbas, apply_yaml, user, work
):
    apply_yaml(
        db_admin_provisioning(dbas.yaml()) + "---\nkind: user\nname: nologin-1\nroles: [db-admin]\n"
    )
    work()
    row = _assignment(user("nologin-1"))
    assert row.display_state == "failed"
    assert "has no account in this target" in row.last_error


def test_an_extension_taking_over_keeps_the_member_without_a_gap(
    dbas, approve, requester, user, plugin, work
):
    with time_machine.travel(T0, tick=False) as clock:
        first = approve("db-admin", max_duration="1h")
        work()
        clock.shift(timedelta(minutes=30))
        extension = access_request_extend(
            requester=requester, request_id=first.id, max_duration="2h"
        )
        review_submit(request_id=extension.id, reviewer=user("carol"), state="APPROVED")
        clock.shift(timedelta(minutes=30))  # the first ends as the extension starts
        tasks.end_due_grants.delay().get()  # the end is recorded before the start...
        work()
        tasks.activate_due_grants.delay().get()
        work()
        assert dbas.members == {"uid=alice"}
    assert [c[0] for c in plugin.CALLS] == ["grant"]  # never taken out in between
