"""Grant usage (issue 21): an allowed check or a credential records first and last use of
the grants behind it, at most once per USAGE_RECORD_INTERVAL; nothing else does."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction

from accessportal.kernel.models import AuditEvent
from requests_app.models import Grant
from requests_app.selectors.access import access_check, access_check_by_name
from requests_app.services.access_requests import access_request_create
from requests_app.services.credentials import credential_issue
from requests_app.services.reviews import review_submit
from requests_app.services.usage import grant_usage_record, usage_cache_clear

pytestmark = pytest.mark.django_db

T0 = "2026-05-01 10:00Z"


def approve(requester, reviewer, **items):
    request = access_request_create(requester=requester, reason="INC-7", max_duration="4h", **items)
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


@pytest.fixture
def granted(requester, reviewer):
    with time_machine.travel(T0, tick=False):
        return approve(requester, reviewer, roles=["db-admin"])


def grant_of(request) -> Grant:
    return Grant.objects.get(request=request)


def at(minutes: float):
    return time_machine.travel(granted_start() + timedelta(minutes=minutes), tick=False)


def granted_start():
    from datetime import datetime

    return datetime.fromisoformat(T0.replace("Z", "+00:00"))


def test_an_allowed_check_records_first_and_last_use(requester, granted):
    assert grant_of(granted).first_used is None
    with at(5):
        assert access_check(user=requester, role="db-admin").allowed
    grant = grant_of(granted)
    assert grant.first_used == grant.last_used == granted_start() + timedelta(minutes=5)
    with at(30):
        assert access_check(user=requester, resource="db/billing").allowed  # via the role
    grant = grant_of(granted)
    assert grant.first_used == granted_start() + timedelta(minutes=5)
    assert grant.last_used == granted_start() + timedelta(minutes=30)


def test_a_second_check_within_the_interval_does_not_write(
    requester, granted, django_assert_num_queries
):
    with at(5):
        access_check(user=requester, role="db-admin")
    with at(5.5), django_assert_num_queries(1):  # the check's one statement, no write
        assert access_check(user=requester, role="db-admin").allowed
    assert grant_of(granted).last_used == granted_start() + timedelta(minutes=5)


def test_another_process_within_the_interval_does_not_write_either(requester, granted):
    """The write is conditional in the database too: a process that remembers nothing
    (here: its memory cleared) finds the grant recorded within the interval and skips it."""
    with at(5):
        access_check(user=requester, role="db-admin")
    usage_cache_clear()
    with at(5.5):
        assert access_check(user=requester, role="db-admin").allowed
        assert grant_usage_record(user_id=requester.pk, roles=["db-admin"]) == 0  # matched none
    assert grant_of(granted).last_used == granted_start() + timedelta(minutes=5)


def test_after_the_interval_the_next_check_writes_again(requester, granted, settings):
    settings.USAGE_RECORD_INTERVAL = 60
    with at(5):
        access_check(user=requester, role="db-admin")
    with at(6.5):
        access_check(user=requester, role="db-admin")
    assert grant_of(granted).last_used == granted_start() + timedelta(minutes=6.5)


def test_a_denied_check_records_nothing(requester, granted, outsider):
    with at(5):
        assert not access_check(user=requester, role="dev-admin").allowed
        assert not access_check(user=outsider, role="db-admin").allowed
    with time_machine.travel(granted.access_expires, tick=False):
        assert not access_check(user=requester, role="db-admin").allowed
    assert grant_of(granted).first_used is None


def test_standing_access_and_checks_about_another_instant_record_nothing(requester, granted):
    with at(5):
        assert access_check(user=requester, role="engineer").allowed  # standing
        later = granted_start() + timedelta(minutes=10)
        assert access_check(user=requester, role="db-admin", at=later).allowed
    assert grant_of(granted).first_used is None


def test_has_perm_is_not_a_use(requester, granted):
    from django.contrib.auth import get_user_model

    with at(5):
        assert get_user_model().objects.get(pk=requester.pk).has_perm("requests_app.check_access")
    assert grant_of(granted).first_used is None


def test_the_check_by_name_records_use(requester, granted):
    with at(5):
        assert access_check_by_name(username="alice", role="db-admin").allowed
    assert grant_of(granted).first_used == granted_start() + timedelta(minutes=5)


def test_a_direct_resource_grant_records_its_use(requester, reviewer):
    with time_machine.travel(T0, tick=False):
        request = approve(requester, reviewer, resources=["node/db-prod-1"])
    with at(5):
        assert access_check(user=requester, resource="node/db-prod-1").allowed
    assert grant_of(request).first_used == granted_start() + timedelta(minutes=5)


def test_credential_issuance_records_use_of_every_grant_in_it(requester, granted, reviewer):
    with at(1):
        other = approve(requester, reviewer, roles=["dev-admin"])
    with at(5):
        credential = credential_issue(user=requester)
    assert {g.get("role") for g in credential.claims["grants"]} == {"db-admin", "dev-admin"}
    for request in (granted, other):
        assert grant_of(request).first_used == granted_start() + timedelta(minutes=5)


def test_usage_writes_no_audit_event(requester, granted):
    before = AuditEvent.objects.count()
    with at(5):
        access_check(user=requester, role="db-admin")
        credential_issue(user=requester)
    assert AuditEvent.objects.count() == before + (
        AuditEvent.objects.filter(action="signing_key.created").count()
    )


class _Undo(Exception):
    pass


def test_a_failing_usage_write_never_fails_the_check(requester, granted, caplog):
    """A read-only database (a replica): the check answers, the failure is logged. The
    read-only switch is undone with the savepoint it was made in."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL transaction_read_only = on")
            else:
                cursor.execute("PRAGMA query_only = ON")
            try:
                with at(5):
                    assert access_check(user=requester, role="db-admin").allowed
                    assert access_check(user=requester, resource="db/billing").allowed
            finally:
                if connection.vendor == "sqlite":
                    cursor.execute("PRAGMA query_only = OFF")
            raise _Undo
    except _Undo:
        pass
    assert "grant usage not recorded" in caplog.text
    assert grant_of(granted).first_used is None


def test_a_closed_connection_never_fails_the_check_either(requester, granted, caplog, monkeypatch):
    """Django raises InterfaceError (not a DatabaseError) for a connection already closed:
    the check still answers and the failure is logged."""
    from django.db import InterfaceError

    from requests_app.services import usage

    def closed(*args, **kwargs):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(usage.transaction, "atomic", closed)
    with at(5):
        assert access_check(user=requester, role="db-admin").allowed
    assert "grant usage not recorded" in caplog.text
    assert grant_of(granted).first_used is None
