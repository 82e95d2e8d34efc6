"""Celery tasks, run in-process under a frozen clock: each does its work at the right time,
once, and changes nothing when run again or late."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from policies_app.models import Role
from requests_app import tasks
from requests_app.models import Grant, OutboxMessage
from requests_app.selectors import requests_needing_review
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit

T0 = "2026-03-02 09:00Z"


def events(event: str) -> int:
    return OutboxMessage.objects.filter(event=event).count()


def approved(requester, reviewer, **kwargs):
    request = access_request_create(requester=requester, roles=["db-admin"], **kwargs)
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")


def test_expire_request_task_expires_once_at_the_ttl(requester):
    with time_machine.travel(T0, tick=False) as clock:
        request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="2h")
        clock.shift(timedelta(hours=1, minutes=59))
        assert tasks.expire_request.delay(str(request.id)).get() is False
        request.refresh_from_db()
        assert request.state == RequestState.PENDING
        clock.shift(timedelta(minutes=1))
        assert tasks.expire_request.delay(str(request.id)).get() is True
        assert tasks.expire_request.delay(str(request.id)).get() is False  # twice: one effect
    request.refresh_from_db()
    assert request.state == RequestState.EXPIRED
    assert events("request.expired") == 1
    assert AuditEvent.objects.filter(action="request.expired").count() == 1


def test_expire_request_task_ignores_unknown_and_resolved_requests(requester, reviewer):
    assert tasks.expire_request.delay("00000000-0000-0000-0000-000000000000").get() is False
    assert tasks.expire_request.delay("not-a-uuid").get() is False
    request = approved(requester, reviewer)
    with time_machine.travel(request.expires + timedelta(hours=1), tick=False):
        assert tasks.expire_request.delay(str(request.id)).get() is False
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED


def test_expiry_sweep_catches_requests_whose_eta_message_was_lost(requester):
    with time_machine.travel(T0, tick=False) as clock:
        first = access_request_create(requester=requester, roles=["db-admin"], request_ttl="1h")
        second = access_request_create(requester=requester, roles=["dev-admin"], request_ttl="3h")
        clock.shift(timedelta(hours=5))  # late: both are due
        assert tasks.expire_due_requests.delay().get() == 2
        assert tasks.expire_due_requests.delay().get() == 0
    for request in (first, second):
        request.refresh_from_db()
        assert request.state == RequestState.EXPIRED
    assert events("request.expired") == 2


def test_end_due_grants_records_the_end_once(requester, reviewer):
    with time_machine.travel(T0, tick=False) as clock:
        request = approved(requester, reviewer, max_duration="1h")
        clock.shift(timedelta(minutes=59))
        assert tasks.end_due_grants.delay().get() == 0
        clock.shift(timedelta(minutes=1))
        assert tasks.end_due_grants.delay().get() == 1
        assert tasks.end_due_grants.delay().get() == 0
    grant = Grant.objects.get(request=request)
    assert grant.ended_at == request.access_expires
    assert events("access.ended") == 1


def test_without_any_worker_access_checks_say_no_at_expiry(requester, reviewer):
    with time_machine.travel(T0, tick=False) as clock:
        request = approved(requester, reviewer, max_duration="1h")
        assert access_check(user=requester, role="db-admin").allowed
        assert requester.has_perm("requests_app.check_access")
        clock.shift(timedelta(hours=1))
        requester = type(requester).objects.get(pk=requester.pk)  # fresh permission cache
        assert not access_check(user=requester, role="db-admin").allowed
        assert not requester.has_perm("requests_app.check_access")
    grant = Grant.objects.get(request=request)
    assert grant.ended_at is None  # nobody tidied up, and access ended anyway


def test_warning_goes_out_once_before_the_end(requester, reviewer, settings):
    settings.ACCESS_EXPIRY_WARNING = 15 * 60
    with time_machine.travel(T0, tick=False) as clock:
        request = approved(requester, reviewer, max_duration="2h")
        clock.shift(timedelta(hours=1, minutes=44))
        assert tasks.warn_ending_grants.delay().get() == 0
        clock.shift(timedelta(minutes=1))
        assert tasks.warn_ending_grants.delay().get() == 1
        clock.shift(timedelta(minutes=5))
        assert tasks.warn_ending_grants.delay().get() == 0
    grant = Grant.objects.get(request=request)
    assert grant.warned_at is not None
    message = OutboxMessage.objects.get(event="access.ending_soon")
    assert message.recipients == ["alice"] and message.payload["ending"] == ["db-admin"]


def test_no_warning_for_revoked_access_or_access_shorter_than_the_warning(
    requester, reviewer, settings
):
    settings.ACCESS_EXPIRY_WARNING = 15 * 60
    with time_machine.travel(T0, tick=False) as clock:
        short = approved(requester, reviewer, max_duration="10m")
        long = access_request_create(requester=requester, roles=["dev-admin"], max_duration="1h")
        review_submit(request_id=long.id, reviewer=reviewer, state="APPROVED")
        access_request_revoke(request_id=long.id, actor=requester, reason="done early")
        clock.shift(timedelta(minutes=50))
        assert tasks.warn_ending_grants.delay().get() == 0
    assert Grant.objects.get(request=short).warned_at is None
    assert events("access.ending_soon") == 0


def test_late_start_is_activated_at_its_start_once(requester, reviewer):
    with time_machine.travel(T0, tick=False) as clock:
        start = timezone.now() + timedelta(hours=2)
        request = approved(requester, reviewer, assume_start_time=start, max_duration="1h")
        grant = Grant.objects.get(request=request)
        assert grant.starts == start and grant.activated_at is None
        assert tasks.activate_request_grants.delay(str(request.id)).get() == 0  # not yet
        clock.shift(timedelta(hours=2))
        assert tasks.activate_request_grants.delay(str(request.id)).get() == 1
        assert tasks.activate_request_grants.delay(str(request.id)).get() == 0
        assert tasks.activate_due_grants.delay().get() == 0
    grant.refresh_from_db()
    assert grant.activated_at == start and grant.revoked_at is None
    message = OutboxMessage.objects.get(event="access.started")
    assert message.recipients == ["alice"] and message.payload["started"] == ["db-admin"]


def test_access_starting_at_approval_needs_no_activation(requester, reviewer):
    request = approved(requester, reviewer)
    grant = Grant.objects.get(request=request)
    assert grant.activated_at == grant.starts
    assert tasks.activate_due_grants.delay().get() == 0
    assert events("access.started") == 0


def test_activation_sweep_catches_late_starts(requester, reviewer):
    with time_machine.travel(T0, tick=False) as clock:
        start = timezone.now() + timedelta(days=2)  # beyond the ETA horizon: sweep only
        approved(requester, reviewer, assume_start_time=start, max_duration="4h")
        clock.shift(timedelta(days=2, minutes=1))
        assert tasks.activate_due_grants.delay().get() == 1
        assert tasks.activate_due_grants.delay().get() == 0
    assert events("access.started") == 1


def test_resync_gives_a_reviewer_added_outside_the_loader_their_rows_once(requester):
    request = access_request_create(requester=requester, roles=["db-admin"])
    newcomer = get_user_model().objects.create_user("nina")
    Role.objects.get(name="reviewer").members.add(newcomer)  # e.g. through Django admin
    assert not requests_needing_review(newcomer).exists()
    assert tasks.resync_request_permissions.delay().get() == 1
    assert list(requests_needing_review(newcomer)) == [request]
    rows = request.accessrequestgroupobjectpermission_set.count()
    tasks.resync_request_permissions.delay().get()
    assert request.accessrequestgroupobjectpermission_set.count() == rows


def test_work_is_queued_after_commit_with_its_eta(
    requester, reviewer, django_capture_on_commit_callbacks, settings
):
    settings.WORKER_ETA_HORIZON = 3600
    sent: list[tuple[str, dict, object]] = []

    def record(task):
        return lambda kwargs=None, eta=None, **_: sent.append((task, kwargs, eta))

    names = ["dispatch_outbox_message", "expire_request", "end_due_grants", "warn_ending_grants"]
    patches = [mock.patch.object(getattr(tasks, n), "apply_async", record(n)) for n in names]
    for p in patches:
        p.start()
    try:
        with time_machine.travel(T0, tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                request = access_request_create(
                    requester=requester, roles=["db-admin"], request_ttl="30m"
                )
            assert [s[0] for s in sent] == ["dispatch_outbox_message", "expire_request"]
            assert sent[1][1] == {"request_id": str(request.id)} and sent[1][2] == request.expires
            sent.clear()
            with django_capture_on_commit_callbacks(execute=True):
                request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
            etas = {name: eta for name, _, eta in sent}
            # 8h of access: the end and its warning are beyond the horizon, left to the sweeps.
            assert set(etas) == {"dispatch_outbox_message"}
            sent.clear()
            with django_capture_on_commit_callbacks(execute=True):
                short = access_request_create(
                    requester=requester, roles=["dev-admin"], max_duration="30m"
                )
                short = review_submit(request_id=short.id, reviewer=reviewer, state="APPROVED")
            etas = {name: eta for name, _, eta in sent}
            assert etas["end_due_grants"] == short.access_expires
            assert etas["warn_ending_grants"] == short.access_expires - timedelta(minutes=15)
    finally:
        for p in patches:
            p.stop()


def test_scheduled_start_is_queued_for_its_start(
    requester, reviewer, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False):
        start = timezone.now() + timedelta(minutes=20)
        request = access_request_create(
            requester=requester, roles=["db-admin"], assume_start_time=start
        )
        with (
            mock.patch.object(tasks.activate_request_grants, "apply_async") as activate,
            django_capture_on_commit_callbacks(execute=True),
        ):
            review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    activate.assert_called_once_with(kwargs={"request_id": str(request.id)}, eta=start)


@pytest.mark.parametrize(
    "task",
    [
        "expire_due_requests",
        "activate_due_grants",
        "end_due_grants",
        "warn_ending_grants",
        "remind_pending_requests",
        "dispatch_due_notifications",
    ],
)
def test_every_sweep_is_on_the_beat_schedule(task, settings, db):
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert f"requests_app.tasks.{task}" in scheduled
    assert getattr(tasks, task).delay().get() == 0  # and runs on an empty database
