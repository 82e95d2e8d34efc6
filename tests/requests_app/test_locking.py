"""retry_on_conflict, deterministically on both back ends: a transient database error
replays the whole outermost service transaction, services composed of services included,
and every top-level service that locks rows others can race on is wrapped."""

from __future__ import annotations

import pytest
from django.db import OperationalError, transaction

from accessportal.kernel.errors import ConcurrentUpdate
from accessportal.kernel.locking import before_service_commit, retry_on_conflict
from policies_app.models import Resource
from policies_app.services import apply, notification_rules, roles_resources
from requests_app.services import (
    access_requests,
    activation,
    extensions,
    grants,
    notifications,
    reminders,
    resolution,
    reviews,
    tokens,
    visibility,
)


class _Deadlock(Exception):
    sqlstate = "40P01"  # as psycopg reports deadlock_detected


def _transient() -> OperationalError:
    error = OperationalError("deadlock detected")
    error.__cause__ = _Deadlock()
    return error


@pytest.fixture
def calls():
    return {"outer": 0, "inner": 0}


def _services(calls, *, fail_inner_times: int):
    @retry_on_conflict
    @transaction.atomic
    def inner():
        calls["inner"] += 1
        if calls["inner"] <= fail_inner_times:
            raise _transient()
        return "inner done"

    @retry_on_conflict
    @transaction.atomic
    def outer():
        calls["outer"] += 1
        Resource.objects.create(kind="node", name=f"attempt-{calls['outer']}")
        return inner()

    return outer, inner


def test_a_service_made_of_services_is_replayed_whole_after_a_conflict(transactional_db, calls):
    """Before, the inner service turned the conflict into a 409 (it could not replay from
    inside a transaction) and the outer one, seeing no database error, gave up too."""
    outer, _ = _services(calls, fail_inner_times=1)

    assert outer() == "inner done"

    assert calls == {"outer": 2, "inner": 2}
    # The first attempt's write was rolled back with it; only the replay's is kept.
    assert list(Resource.objects.values_list("name", flat=True)) == ["attempt-2"]


def test_a_conflict_that_keeps_happening_is_a_409_and_writes_nothing(transactional_db, calls):
    outer, _ = _services(calls, fail_inner_times=99)

    with pytest.raises(ConcurrentUpdate) as refused:
        outer()

    assert refused.value.status == 409 and "try again" in refused.value.message
    assert calls["outer"] == 3 and not Resource.objects.exists()


def test_inside_a_plain_outer_transaction_a_conflict_is_a_409_at_once(db, calls):
    _, inner = _services(calls, fail_inner_times=1)
    with pytest.raises(ConcurrentUpdate), transaction.atomic():
        inner()
    assert calls["inner"] == 1


def test_a_service_called_after_another_in_the_same_thread_still_retries(transactional_db):
    """The "an outer service will replay" mark is cleared when the outer one returns."""
    first_calls, later_calls = {"outer": 0, "inner": 0}, {"outer": 0, "inner": 0}
    first, _ = _services(first_calls, fail_inner_times=0)
    _, flaky = _services(later_calls, fail_inner_times=1)

    first()
    assert flaky() == "inner done"
    assert later_calls["inner"] == 2


def test_a_before_commit_callback_runs_in_the_outermost_transaction_on_every_attempt(
    transactional_db, calls
):
    """Its write is rolled back with an attempt that lost a conflict and written again by
    the replay; it runs once per attempt, after the work, with the outermost's result."""
    outer, _ = _services(calls, fail_inner_times=0)
    seen = []

    def mark(result):
        seen.append(result)
        Resource.objects.create(kind="node", name=f"mark-{len(seen)}")
        if len(seen) == 1:
            raise _transient()  # the attempt is rolled back, the mark with it

    with before_service_commit(mark):
        assert outer() == "inner done"

    assert seen == ["inner done", "inner done"] and calls == {"outer": 2, "inner": 2}
    assert sorted(Resource.objects.values_list("name", flat=True)) == ["attempt-2", "mark-2"]


def test_a_failing_before_commit_callback_rolls_the_work_back(transactional_db, calls):
    outer, _ = _services(calls, fail_inner_times=0)

    def refuse(result):
        raise ConcurrentUpdate("no")

    with pytest.raises(ConcurrentUpdate), before_service_commit(refuse):
        outer()
    assert not Resource.objects.exists()


def test_a_before_commit_callback_is_not_run_outside_its_block(transactional_db, calls):
    outer, _ = _services(calls, fail_inner_times=0)
    seen = []
    with before_service_commit(seen.append):
        pass
    outer()
    assert seen == []


_RETRIED = retry_on_conflict(lambda: None).__code__

LOCKING_SERVICES = [
    access_requests.access_request_create,
    reviews.review_submit,
    resolution.access_request_resolve,
    resolution.access_request_withdraw,
    resolution.access_request_expire,
    grants.access_request_revoke,
    grants.grants_end_due,
    extensions.access_request_extend,
    tokens.api_token_create,
    tokens.api_token_revoke,
    tokens.api_token_get_or_create,
    activation.grants_activate_for,
    reminders.grants_warn_ending,
    notifications.outbox_route,
    notifications.delivery_finish,
    notifications.outbox_retry,
    visibility.request_permissions_resync,
    apply.policies_apply,
    roles_resources.role_save,
    roles_resources.role_delete,
    roles_resources.resource_save,
    roles_resources.resource_delete,
    notification_rules.notification_rule_save,
    notification_rules.notification_rule_delete,
]


@pytest.mark.parametrize("service", LOCKING_SERVICES, ids=lambda f: f.__qualname__)
def test_every_top_level_service_that_locks_rows_retries_on_conflict(service):
    assert service.__code__ is _RETRIED, f"{service.__qualname__} is not @retry_on_conflict"
