"""Every audited service takes the audit chain head last (accessportal/kernel/locking.py).

The head is the one lock every audited write shares: whatever a service does after taking
it, every other write in the system waits for. Each test records the statements a service
sends and checks that, from the one that reads the head on, only the append follows (the
events, the head's new position, savepoint bookkeeping). `test_lock_order.py` shows on
PostgreSQL what it buys: a request is created while a policy apply resyncs.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from policies_app.loader import plan_from_texts
from policies_app.models import NotificationRule
from policies_app.services.apply import policies_apply
from policies_app.services.notification_rules import (
    notification_rule_delete,
    notification_rule_save,
)
from policies_app.services.roles_resources import resource_delete, role_delete
from requests_app.models import OutboxMessage
from requests_app.services.access_requests import access_request_create
from requests_app.services.activation import grants_activate_for
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke, grants_end_due
from requests_app.services.notifications import outbox_retry
from requests_app.services.reminders import grants_warn_ending
from requests_app.services.resolution import access_requests_expire_due
from requests_app.services.reviews import review_submit
from tests.conftest import BASE_POLICY

APPEND_TABLES = ("requests_app_auditchainhead", "requests_app_auditevent")


def _after_head(call) -> list[str]:
    """Run `call`; the statements it sent from the first that reads the chain head on,
    less those of the append itself. Empty when the head is taken last."""
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        call()
    first = next((i for i, sql in enumerate(sent) if APPEND_TABLES[0] in sql), None)
    assert first is not None, "the service audited nothing"
    return [
        sql
        for sql in sent[first:]
        if not any(table in sql for table in APPEND_TABLES)
        and not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def _approve(request, reviewer):
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


def _create(requester, **kwargs):
    return access_request_create(requester=requester, roles=["db-admin"], **kwargs)


def test_creating_a_request_writes_its_visibility_rows_and_notice_before_the_append(requester):
    assert _after_head(lambda: _create(requester)) == []


def test_a_deciding_review_opens_the_grants_before_the_append(requester, reviewer):
    request = _create(requester)
    assert _after_head(lambda: _approve(request, reviewer)) == []


def test_a_revocation_closes_the_extensions_before_the_append(requester, reviewer, user):
    request = _approve(_create(requester, max_duration="1h"), reviewer)
    extension = access_request_extend(requester=requester, request_id=request.id)
    _approve(extension, user("carol"))
    assert (
        _after_head(
            lambda: access_request_revoke(request_id=request.id, actor=reviewer, reason="done")
        )
        == []
    )


def test_the_sweeps_write_their_notices_before_the_append(requester, reviewer):
    later = timezone.now() + timedelta(days=2)
    _create(requester, request_ttl="1h")
    with time_machine.travel(later, tick=False):
        # One batch: each batch is a transaction of its own.
        assert _after_head(lambda: access_requests_expire_due(limit=1)) == []
    approved = _approve(_create(requester), reviewer)
    window = approved.access_expires - approved.access_starts
    soon, lead = approved.access_expires - window / 2, int(window.total_seconds() * 0.75)
    assert _after_head(lambda: grants_warn_ending(now=soon, lead=lead)) == []
    with time_machine.travel(later, tick=False):
        assert _after_head(grants_end_due) == []


def test_a_later_start_is_activated_before_the_append(requester, reviewer):
    start = timezone.now() + timedelta(hours=1)
    request = _approve(_create(requester, assume_start_time=start), reviewer)
    assert (
        _after_head(
            lambda: grants_activate_for(request_id=request.id, now=start + timedelta(seconds=1))
        )
        == []
    )


def test_retrying_notifications_updates_every_message_before_the_append(requester, admin):
    _create(requester)
    _create(requester)
    ids = list(OutboxMessage.objects.values_list("pk", flat=True))
    assert len(ids) == 2
    assert _after_head(lambda: outbox_retry(message_ids=ids, actor=admin)) == []


def test_a_policy_change_resyncs_pending_requests_before_the_append(requester, user):
    _create(requester)
    changed = BASE_POLICY.replace("name: mallory", "name: mallory\nroles: [reviewer]")
    plan = plan_from_texts([("test.yaml", changed)])
    assert _after_head(lambda: policies_apply(plan=plan)) == []


def test_deleting_policy_documents_deletes_before_the_append(requester, admin):
    _create(requester)
    assert _after_head(lambda: role_delete(name="reviewer", actor=admin)) == []
    assert _after_head(lambda: resource_delete(kind="node", name="web-dev-1", actor=admin)) == []
    spec = {"channels": [{"type": "email", "to": ["security@example.com"]}]}
    rule = notification_rule_save(name="sec", spec=spec, actor=admin)
    assert _after_head(lambda: notification_rule_delete(rule_id=rule.pk, actor=admin)) == []
    assert not NotificationRule.objects.exists()


@pytest.fixture(autouse=True)
def _policy(base_policy):
    """Every test runs on the shared base policy."""


def test_the_stock_admin_deletes_accounts_and_groups_before_the_append(base_policy, user, admin):
    """Deleting accounts or groups in Django's admin: snapshots, then the deletion, then the
    events (`services.accounts`)."""
    from django.contrib import admin as django_admin
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import RequestFactory

    request = RequestFactory().post("/admin/")
    request.user = admin
    users = get_user_model().objects.filter(username="mallory")
    user_admin = django_admin.site._registry[get_user_model()]
    assert _after_head(lambda: user_admin.delete_queryset(request, users)) == []
    Group.objects.create(name="resolvers")
    groups = Group.objects.filter(name="resolvers")
    group_admin = django_admin.site._registry[Group]
    assert _after_head(lambda: group_admin.delete_queryset(request, groups)) == []
    assert not users.exists() and not groups.exists()


def test_approving_a_policy_proposal_applies_and_decides_before_the_append(
    requester, user, apply_yaml
):
    from policies_app.services.proposals import policy_proposal_approve, policy_proposal_create

    # bob proposes, carol approves: both rights from standing roles (README, two-person rule).
    apply_yaml(
        "kind: role\nname: policy-people\nspec:\n  allow:\n    permissions:\n"
        "      [policies_app.add_policyproposal, policies_app.approve_policyproposal]\n"
        "---\nkind: user\nname: bob\nroles: [reviewer, policy-people]\n"
        "---\nkind: user\nname: carol\nroles: [reviewer, policy-people]\n"
    )
    plan = plan_from_texts([("t.yaml", "kind: role\nname: proposed\n")])
    proposal = policy_proposal_create(plan=plan, proposer=user("bob"), source="api")
    assert (
        _after_head(
            lambda: policy_proposal_create(
                plan=plan_from_texts([("t.yaml", "kind: role\nname: other\n")]),
                proposer=user("bob"),
                source="api",
            )
        )
        == []
    )
    carol = user("carol")
    assert (
        _after_head(lambda: policy_proposal_approve(proposal_id=proposal.pk, approver=carol)) == []
    )
