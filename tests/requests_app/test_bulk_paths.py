"""The fast paths the benchmarks drove: the bulk expiry sweep, and query budgets of the
access check and of role permissions that do not grow with the number of grants."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.auth import get_user_model

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant, OutboxMessage
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import access_requests_expire_due
from requests_app.services.reviews import review_submit


def test_expiry_sweep_in_batches_audits_and_notifies_each_request(requester):
    created = [
        access_request_create(requester=requester, roles=["db-admin"], request_ttl="1h")
        for _ in range(5)
    ]
    with time_machine.travel(created[-1].expires, tick=False):
        assert access_requests_expire_due(limit=3, batch_size=2) == 3  # limit is kept
        assert access_requests_expire_due(batch_size=2) == 2
        assert access_requests_expire_due() == 0
    for request in created:
        request.refresh_from_db()
        assert request.state == RequestState.EXPIRED
        assert request.resolved_by is None
        assert request.resolve_reason == "not resolved before it expired"
    events = AuditEvent.objects.filter(action="request.expired")
    assert sorted(e.target_id for e in events) == sorted(str(r.id) for r in created)
    assert all(e.actor_name == "system" and e.data["reason"] for e in events)
    messages = OutboxMessage.objects.filter(event="request.expired")
    assert messages.count() == 5
    assert {m.payload["state"] for m in messages} == {"EXPIRED"}
    assert {tuple(m.recipients) for m in messages} == {(requester.get_username(),)}
    assert audit_verify().ok


def test_expiry_sweep_leaves_requests_not_yet_due(requester):
    request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
    with time_machine.travel(request.expires, tick=False):
        # a worker whose clock says later than now expires nothing that is not due now
        assert access_requests_expire_due(now=request.expires.replace(year=2100)) == 1
    late = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
    assert access_requests_expire_due(now=late.expires.replace(year=2100)) == 0
    late.refresh_from_db()
    assert late.state == RequestState.PENDING


@pytest.fixture
def many_grants(requester, reviewer):
    """The requester holds db-admin by grant, among many other grants of theirs."""
    for _ in range(6):
        request = access_request_create(requester=requester, roles=["db-admin", "dev-admin"])
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    return Grant.objects.filter(user=requester).count()


@pytest.mark.parametrize("target", [{"role": "db-admin"}, {"role": "nope"}])
def test_role_check_is_one_query_whatever_the_grants(
    requester, many_grants, django_assert_num_queries, target
):
    assert many_grants == 12
    access_check(user=requester, **target)  # records the grant's use (once per interval)
    with django_assert_num_queries(1):
        decision = access_check(user=requester, **target)
    assert decision.allowed == (target["role"] == "db-admin")


def test_resource_check_is_one_query_whatever_the_grants(
    requester, many_grants, apply_yaml, django_assert_num_queries
):
    apply_yaml("kind: resource\nid: db/billing\nlabels: {env: prod}\n")
    access_check(user=requester, resource="db/billing")  # records the use (once per interval)
    with django_assert_num_queries(1):
        decision = access_check(user=requester, resource="db/billing")
    assert decision.allowed and decision.via == "grant"  # db-admin reaches prod dbs
    with django_assert_num_queries(1):
        assert not access_check(user=requester, resource="db/absent").allowed


def test_role_permissions_are_one_query(requester, many_grants, django_assert_max_num_queries):
    User = get_user_model()
    fresh = User.objects.get(pk=requester.pk)
    from requests_app.backends import RolePermissionBackend

    with django_assert_max_num_queries(1):
        perms = RolePermissionBackend().get_all_permissions(fresh)
    assert "requests_app.check_access" in perms  # from the granted db-admin role


def test_standing_role_reaches_a_resource_in_the_same_single_query(
    apply_yaml, user, django_assert_num_queries
):
    apply_yaml(
        """
kind: role
name: dba
spec:
  allow:
    resources: {kinds: [db], labels: {env: [prod]}}
---
kind: user
name: sam
roles: [dba]
---
kind: resource
id: db/billing
labels: {env: prod}
---
kind: resource
id: db/scratch
labels: {env: dev}
"""
    )
    sam = user("sam")
    with django_assert_num_queries(1):
        decision = access_check(user=sam, resource="db/billing")
    assert decision == access_check(user=sam, role="dba")  # standing, no expiry
    assert decision.allowed and decision.via == "standing" and decision.expires is None
    assert not access_check(user=sam, resource="db/scratch").allowed


def test_audit_events_written_in_bulk_read_back_as_written_and_verify(requester):
    """The sweeps' audit events and notifications go in by COPY on PostgreSQL (executemany
    elsewhere): what is read back is what was hashed, whatever the text."""
    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import transaction

    from accessportal.kernel.audit import AuditEntry, audit_record_many
    from requests_app.services.outbox import outbox_enqueue_many, outbox_message

    odd = 'tab\there, "quotes", back\\slash, newline\nend, ünïcödé, emoji 🔑, \\N'
    request = access_request_create(requester=requester, roles=["db-admin"], reason="bulk")
    with transaction.atomic():
        written = audit_record_many(
            [
                AuditEntry("test.bulk", "access_request", str(request.id), requester, {"t": odd}),
                AuditEntry("test.bulk", "grant", "7", None, {"when": request.created, "n": None}),
            ]
        )
        outbox_enqueue_many(
            [outbox_message(event="test.bulk", request_id=request.id, recipients=["b", "a"],
                            payload={"t": odd})]
        )  # fmt: skip
    assert written == 2
    first, second = AuditEvent.objects.filter(action="test.bulk").order_by("seq")
    assert (first.actor_id, first.actor_name, first.data) == (requester.pk, "alice", {"t": odd})
    assert (second.actor_id, second.actor_name) == (None, "system")
    # As every audit event says it: DjangoJSONEncoder's text (milliseconds, "Z").
    assert second.data == {"when": DjangoJSONEncoder().default(request.created), "n": None}
    assert second.prev_hash == first.hash and second.seq == first.seq + 1
    message = OutboxMessage.objects.get(event="test.bulk")
    assert (message.request_id, message.recipients, message.payload) == (
        request.id, ["a", "b"], {"t": odd},
    )  # fmt: skip
    assert message.state == "PENDING" and message.attempts == 0 and message.sent_at is None
    assert audit_verify().ok


def test_the_expiry_sweep_writes_what_the_single_expiry_writes(requester):
    """The batch (one UPDATE ... RETURNING, plain rows) and `access_request_expire` (a
    model instance through `resolve_locked`) leave the same request, event and notice."""
    from requests_app.models import AccessRequest
    from requests_app.services.resolution import access_request_expire

    one, many = (
        access_request_create(
            requester=requester, roles=["db-admin"], resources=[], request_ttl="1h", reason=r
        )
        for r in ("first 'one'", 'second "one"')
    )
    with time_machine.travel(many.expires, tick=False):
        assert access_request_expire(request_id=one.id)
        assert access_requests_expire_due() == 1

    def written(request):
        stored = AccessRequest.objects.get(pk=request.pk)
        event = AuditEvent.objects.get(action="request.expired", target_id=str(request.id))
        notice = OutboxMessage.objects.get(event="request.expired", request_id=request.id)
        payload = {**notice.payload, "request_id": "-", "reason": "-"}
        return (
            (stored.state, stored.resolved_by_id, stored.resolve_reason, stored.resolved_at,
             stored.updated),
            (event.actor_id, event.actor_name, event.target_type, event.data),
            (notice.recipients, notice.state, notice.attempts, payload),
        )  # fmt: skip

    assert written(one) == written(many)
    sent = OutboxMessage.objects.get(event="request.expired", request_id=many.id)
    assert sent.payload["reason"] == 'second "one"'
    assert audit_verify().ok


def test_audit_data_is_hashed_as_it_is_read_back_whatever_its_values(requester):
    """Plain values and datetimes are hashed without a JSON round trip (the sweeps'
    events); others through one: either way the chain verifies over the stored data."""
    import json
    from datetime import UTC, datetime, timedelta, timezone

    from django.core.serializers.json import DjangoJSONEncoder
    from django.db import transaction

    from accessportal.kernel.audit import AuditEntry, audit_record_many

    values = {
        "micro": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "whole": datetime(2026, 1, 2, tzinfo=UTC),
        "offset": datetime(2026, 1, 2, 3, 4, 5, 1000, tzinfo=timezone(timedelta(hours=2))),
        "big": 2**70,
        "yes": True,
        "none": None,
        "text": 'é\n"\\ \ud7ff 🔑',
        "float": 1.5,
        "nested": {"at": datetime(2026, 1, 2, tzinfo=UTC), "list": [1, "a"]},
        "tuple": ("a", 1),
    }
    entries = [AuditEntry("test.values", "grant", key, None, {key: v}) for key, v in values.items()]
    entries += [AuditEntry("test.values", "grant", "all", None, values),
                AuditEntry("test.values", "grant", "int-key", None, {1: "one"})]  # fmt: skip
    with transaction.atomic():
        audit_record_many(entries)
    stored = {e.target_id: e.data for e in AuditEvent.objects.filter(action="test.values")}
    for entry in entries:
        expected = json.loads(json.dumps(entry.data, cls=DjangoJSONEncoder))
        assert stored[entry.target_id] == expected
    assert stored["micro"] == {"micro": "2026-01-02T03:04:05.678Z"}
    assert audit_verify().ok
