"""Races on PostgreSQL: real threads, real separate connections, started together.

Twenty reviewers on one request, and each pair of competing changes, must end in one
consistent state: every review counted once, exactly one resolution, one audit event per
change, an intact audit chain, and no error other than the clear domain refusals (409).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accessportal.kernel import locking
from accessportal.kernel.audit import audit_verify
from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import AlreadyReviewed, ConcurrentUpdate, Conflict, NotPending
from accessportal.kernel.locking import retry_on_conflict
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Grant, OutboxMessage, Review
from requests_app.selectors.access import access_check
from requests_app.services.access_requests import access_request_create
from requests_app.services.extensions import access_request_extend
from requests_app.services.grants import access_request_revoke
from requests_app.services.locking import request_lock
from requests_app.services.resolution import (
    access_request_expire,
    access_request_resolve,
    access_request_withdraw,
    access_requests_expire_due,
)
from requests_app.services.reviews import review_submit
from requests_app.services.thresholds import tally
from requests_app.services.tokens import api_token_create, api_token_revoke
from tests.concurrency import run_together

pytestmark = pytest.mark.postgres

REVIEWERS = [f"rev{i:02d}" for i in range(1, 21)]
RESOLUTIONS = {"request.approved", "request.denied", "request.withdrawn", "request.expired"}

RACE_POLICY = """
kind: role
name: unanimous       # all twenty reviewers must approve (or deny)
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: all-hands, approve: 20, deny: 20}]
---
kind: role
name: quorum          # five of them decide, either way
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: quorum, approve: 5, deny: 5}]
---
kind: role
name: single          # the default threshold: one approval or one denial
spec:
  allow:
    request: {roles: [db-admin, dev-admin]}
---
kind: role
name: pair            # two approvals
spec:
  allow:
    request:
      roles: [db-admin]
      thresholds: [{name: two, approve: 2, deny: 1}]
---
kind: role
name: db-admin
---
kind: role
name: dev-admin
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: [db-admin, dev-admin]}
    request: {roles: [dev-admin]}
---
kind: role
name: resolver
spec:
  allow:
    permissions: [requests_app.resolve_accessrequest]
---
kind: user
name: alice
roles: [unanimous]
---
kind: user
name: frank
roles: [quorum]
---
kind: user
name: dave
roles: [single]
---
kind: user
name: grace
roles: [pair]
---
kind: user
name: judge1
roles: [resolver]
---
kind: user
name: judge2
roles: [resolver]
""" + "".join(f"---\nkind: user\nname: {name}\nroles: [reviewer]\n" for name in REVIEWERS)


@pytest.fixture
def race_policy(transactional_db, apply_yaml):
    apply_yaml(RACE_POLICY)


def _user(name: str):
    """A fresh user object, fetched by the calling thread on its own connection."""
    return get_user_model().objects.get(username=name)


def _create(requester: str, roles=("db-admin",)) -> AccessRequest:
    return access_request_create(requester=_user(requester), roles=list(roles), reason="INC-1")


def _review(request_id, reviewer: str, state: str = "APPROVED"):
    return lambda: review_submit(
        request_id=request_id, reviewer=_user(reviewer), state=state, reason=f"{reviewer} says"
    )


def _events(request_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_id=str(request_id)).order_by("seq"))


def _assert_refusals_only(outcomes, *allowed: type[Exception]) -> None:
    """Every failure is one of the clear domain refusals (status 409), never anything else."""
    for outcome in outcomes:
        if not outcome.ok:
            assert isinstance(outcome.error, allowed), repr(outcome.error)
            assert outcome.error.status == 409


def _assert_consistent(request_id) -> AccessRequest:
    """One state, the events that led to it exactly once each, grants to match, and an
    intact, gapless audit chain."""
    request = AccessRequest.objects.get(pk=request_id)
    events = _events(request_id)
    actions = Counter(e.action for e in events)
    reviews = list(Review.objects.filter(request=request).order_by("id"))
    assert actions["request.created"] == 1
    assert actions["review.submitted"] == len(reviews)
    assert sorted(e.actor_name for e in events if e.action == "review.submitted") == sorted(
        r.reviewer.username for r in reviews
    )
    assert len({r.reviewer_id for r in reviews}) == len(reviews), "a review counted twice"
    resolutions = [e for e in events if e.action in RESOLUTIONS]
    if request.state == RequestState.PENDING:
        assert not resolutions
    else:
        assert len(resolutions) == 1, [e.action for e in resolutions]
    assert actions["request.revoked"] == (request.state == RequestState.REVOKED)
    grants = list(Grant.objects.filter(request=request))
    if request.state in (RequestState.APPROVED, RequestState.REVOKED):
        assert resolutions[0].action == "request.approved"
        assert len(grants) == len(request.roles) + len(request.resources)
        revoked = request.state == RequestState.REVOKED
        assert all((g.revoked_at is not None) == revoked for g in grants)
    else:
        assert grants == []
    notified = Counter(
        m.event for m in OutboxMessage.objects.filter(request=request) if m.event != "access.ended"
    )
    assert all(count == 1 for count in notified.values()), notified
    report = audit_verify()
    assert report.ok, report.problem
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    return request


def test_twenty_reviewers_at_once_are_each_counted_once_and_resolve_once(race_policy):
    request = _create("alice")
    outcomes = run_together(*(_review(request.id, name) for name in REVIEWERS))

    assert [o.error for o in outcomes] == [None] * 20
    request = _assert_consistent(request.id)
    assert request.state == RequestState.APPROVED
    assert Review.objects.filter(request=request).count() == 20
    # The twentieth review in lock order resolved it, and only that one.
    last = Review.objects.filter(request=request).order_by("id").last()
    assert request.resolved_by == last.reviewer
    assert Counter(e.action for e in _events(request.id)) == {
        "request.created": 1,
        "review.submitted": 20,
        "request.approved": 1,
    }


def test_twenty_split_votes_stop_exactly_at_the_first_threshold_reached(race_policy):
    request = _create("frank")  # approve: 5, deny: 5
    votes = ["APPROVED" if i % 3 else "DENIED" for i in range(20)]  # 13 approve, 7 deny
    calls = [_review(request.id, name, vote) for name, vote in zip(REVIEWERS, votes, strict=True)]
    outcomes = run_together(*calls)

    _assert_refusals_only(outcomes, NotPending)
    request = _assert_consistent(request.id)
    reviews = list(Review.objects.filter(request=request).order_by("id"))
    assert sum(o.ok for o in outcomes) == len(reviews)
    assert 5 <= len(reviews) <= 9  # at most 4 + 4 before one side reaches 5
    # The recorded reviews, in the order they took the lock, decide: undecided before the
    # last one, decided by it, and the request's state is that decision.
    assert tally(request.policy, reviews[:-1]) is None
    assert tally(request.policy, reviews) == request.state
    assert request.resolved_by == reviews[-1].reviewer


def test_the_same_reviewer_submitting_twice_at_once_is_counted_once(race_policy):
    request = _create("alice")  # 20 needed: stays pending
    names = REVIEWERS[:10]
    outcomes = run_together(*(_review(request.id, n) for n in names + names))

    _assert_refusals_only(outcomes, AlreadyReviewed)
    assert sum(o.ok for o in outcomes) == 10
    request = _assert_consistent(request.id)
    assert request.state == RequestState.PENDING
    assert sorted(r.reviewer.username for r in request.reviews.all()) == names


@pytest.mark.parametrize("round_", range(3))
def test_approve_versus_withdraw_ends_in_one_state(race_policy, round_):
    request = _create("dave")  # one approval decides
    approve, withdraw = run_together(
        _review(request.id, REVIEWERS[round_]),
        lambda: access_request_withdraw(request_id=request.id, actor=_user("dave")),
    )

    _assert_refusals_only([approve, withdraw], NotPending)
    assert approve.ok != withdraw.ok, "exactly one of them wins"
    request = _assert_consistent(request.id)
    assert request.state == (RequestState.APPROVED if approve.ok else RequestState.WITHDRAWN)


@pytest.mark.parametrize("sweep", [False, True], ids=["expire-one", "expire-due-sweep"])
def test_approve_versus_expiry_of_an_overdue_request_always_ends_expired(race_policy, sweep):
    """Whoever takes the lock first, a request past its pending time is never approved."""
    request = _create("dave")
    # Test setup, not a state change: the request's pending time ran out a moment ago.
    AccessRequest.objects.filter(pk=request.pk).update(
        expires=timezone.now() - timedelta(seconds=1)
    )
    expire = (
        (lambda: access_requests_expire_due())
        if sweep
        else (lambda: access_request_expire(request_id=request.id))
    )
    approve, expired = run_together(_review(request.id, "rev01"), expire)

    assert isinstance(approve.error, NotPending)
    assert expired.ok and expired.value in (True, 1)
    request = _assert_consistent(request.id)
    assert request.state == RequestState.EXPIRED


def test_approve_versus_expiry_sweep_of_a_request_still_in_time_approves(race_policy):
    request = _create("dave")
    approve, expired = run_together(
        _review(request.id, "rev01"), lambda: access_request_expire(request_id=request.id)
    )
    assert approve.ok and expired.ok and expired.value is False
    assert _assert_consistent(request.id).state == RequestState.APPROVED


@pytest.mark.parametrize("round_", range(3))
def test_two_direct_resolutions_at_once_only_one_applies(race_policy, round_):
    request = _create("dave")
    approve, deny = run_together(
        lambda: access_request_resolve(
            request_id=request.id, actor=_user("judge1"), state="APPROVED", reason="ok"
        ),
        lambda: access_request_resolve(
            request_id=request.id, actor=_user("judge2"), state="DENIED", reason="no"
        ),
    )

    _assert_refusals_only([approve, deny], NotPending)
    assert approve.ok != deny.ok
    request = _assert_consistent(request.id)
    assert request.state == (RequestState.APPROVED if approve.ok else RequestState.DENIED)
    assert request.resolved_by.username == ("judge1" if approve.ok else "judge2")


def test_direct_resolution_versus_the_deciding_review(race_policy):
    request = _create("dave")
    resolve, review = run_together(
        lambda: access_request_resolve(
            request_id=request.id, actor=_user("judge1"), state="DENIED", reason="no"
        ),
        _review(request.id, "rev01", "APPROVED"),
    )
    _assert_refusals_only([resolve, review], NotPending)
    assert resolve.ok != review.ok
    request = _assert_consistent(request.id)
    assert request.state == (RequestState.DENIED if resolve.ok else RequestState.APPROVED)


@pytest.mark.parametrize("round_", range(3))
def test_revoke_versus_the_approving_review_ends_consistent(race_policy, round_):
    """grace needs two approvals and has one: the second approval races a revocation by
    another eligible reviewer. Either the revocation comes first (refused: nothing approved
    yet) and access stays approved, or it comes second and ends the access just granted."""
    request = _create("grace")
    review_submit(request_id=request.id, reviewer=_user("rev01"), state="APPROVED", reason="1")
    review, revoke = run_together(
        _review(request.id, "rev02"),
        lambda: access_request_revoke(
            request_id=request.id, actor=_user("rev03"), reason="incident over"
        ),
    )

    assert review.ok
    _assert_refusals_only([revoke], Conflict)
    request = _assert_consistent(request.id)
    assert request.state == (RequestState.REVOKED if revoke.ok else RequestState.APPROVED)
    if revoke.ok:
        events = [e.action for e in _events(request.id)]
        assert events.index("request.revoked") > events.index("request.approved")


def test_two_revocations_at_once_revoke_once(race_policy):
    request = _create("dave")
    review_submit(request_id=request.id, reviewer=_user("rev01"), state="APPROVED", reason="ok")
    first, second = run_together(
        lambda: access_request_revoke(request_id=request.id, actor=_user("rev02"), reason="a"),
        lambda: access_request_revoke(request_id=request.id, actor=_user("dave"), reason="b"),
    )
    _assert_refusals_only([first, second], Conflict)
    assert first.ok != second.ok
    assert _assert_consistent(request.id).state == RequestState.REVOKED


@pytest.mark.parametrize("revoker", ["rev03", "dave"], ids=["by-a-reviewer", "by-the-requester"])
@pytest.mark.parametrize("round_", range(3))
def test_revoke_versus_the_approval_of_its_extension_ends_all_of_that_access(
    race_policy, revoker, round_
):
    """dave's approved access has an extension waiting; its approving review races the
    revocation of the access it extends. Whichever takes its lock first, revocation wins:
    an extension approved first is revoked with the access it continues; one still pending
    is closed (denied, or withdrawn when dave revokes himself), and its late approval is
    refused with 409. Either way dave has no access now and none later."""
    original = _create("dave")
    review_submit(request_id=original.id, reviewer=_user("rev01"), state="APPROVED", reason="ok")
    extension = access_request_extend(requester=_user("dave"), request_id=original.id, reason="+")
    approve, revoke = run_together(
        _review(extension.id, "rev02"),
        lambda: access_request_revoke(
            request_id=original.id, actor=_user(revoker), reason="incident over"
        ),
    )

    assert revoke.ok, repr(revoke.error)
    _assert_refusals_only([approve], NotPending)
    original = _assert_consistent(original.id)
    extension = _assert_consistent(extension.id)
    assert original.state == RequestState.REVOKED
    closed = RequestState.WITHDRAWN if revoker == "dave" else RequestState.DENIED
    assert extension.state == (RequestState.REVOKED if approve.ok else closed)
    ending = {"request.revoked", "request.withdrawn", "request.denied"}
    ended = [e for e in _events(extension.id) if e.action in ending]
    assert [e.actor_name for e in ended] == [revoker]
    assert ended[0].data["reason"] == "incident over"
    assert ended[0].data["with"] == str(original.id)
    # No access now, none when the original would have ended, none until the extension's.
    extension_end = extension.access_expires or original.access_expires
    for at in (timezone.now(), original.access_expires, extension_end - timedelta(seconds=1)):
        assert not access_check(user=_user("dave"), role="db-admin", at=at).allowed, at


@pytest.mark.parametrize("round_", range(3))
def test_asking_for_an_extension_versus_revoking_the_access(race_policy, round_):
    """Both lock the access being extended first: the extension is either refused (the
    access is revoked) or created and then closed by the revocation."""
    original = _create("dave")
    review_submit(request_id=original.id, reviewer=_user("rev01"), state="APPROVED", reason="ok")
    extend, revoke = run_together(
        lambda: access_request_extend(requester=_user("dave"), request_id=original.id, reason="+"),
        lambda: access_request_revoke(request_id=original.id, actor=_user("rev03"), reason="x"),
    )

    assert revoke.ok, repr(revoke.error)
    _assert_refusals_only([extend], Conflict)
    assert _assert_consistent(original.id).state == RequestState.REVOKED
    extensions = list(AccessRequest.objects.filter(extends=original))
    assert len(extensions) == (1 if extend.ok else 0)
    for extension in extensions:
        assert _assert_consistent(extension.id).state == RequestState.DENIED


@pytest.mark.parametrize("round_", range(3))
def test_two_token_creations_at_once_make_one_token(race_policy, round_):
    """A double-clicked "Create token" in the portal: one token, one audit event, and the
    second click a clear 409 (it was an IntegrityError, a 500, before the user row lock)."""
    first, second = run_together(
        lambda: api_token_create(user=_user("dave")), lambda: api_token_create(user=_user("dave"))
    )
    _assert_refusals_only([first, second], Conflict)
    assert first.ok != second.ok
    assert list(Token.objects.filter(user__username="dave")) == [(first.value or second.value)]
    assert AuditEvent.objects.filter(action="api_token.created").count() == 1
    assert audit_verify().ok


def test_replacing_and_revoking_a_token_at_once_ends_consistent(race_policy):
    old = api_token_create(user=_user("dave"))
    replace, revoke = run_together(
        lambda: api_token_create(user=_user("dave"), replace=True),
        lambda: api_token_revoke(user=_user("dave")),
    )
    assert replace.ok and revoke.ok, (replace.error, revoke.error)
    left = list(Token.objects.filter(user__username="dave"))
    assert old not in left and len(left) <= 1
    actions = list(
        AuditEvent.objects.filter(action__startswith="api_token.")
        .values_list("action", flat=True)
        .order_by("seq")
    )
    # Revoked first: the replacement made a new token; replaced first: revoke removed it.
    assert actions[0] == "api_token.created"
    assert sorted(actions[1:]) == ["api_token.created", "api_token.revoked"][: len(actions) - 1]
    assert (left != []) == (actions[-1] == "api_token.created")
    assert audit_verify().ok


def test_mixed_traffic_creates_and_reviews_for_many_users_finish_without_errors(
    race_policy, caplog
):
    """Reviewers who are also requesters: locking one person's request must not block
    (or deadlock with) changes that merely reference that person, such as the visibility
    rows written for them when someone else's request is created."""
    own = {name: _create(name, roles=["dev-admin"]) for name in REVIEWERS[:10]}
    calls = []
    for i, name in enumerate(REVIEWERS[:10]):
        reviewer = REVIEWERS[(i + 1) % 10]
        calls.append(_review(own[name].id, reviewer))  # locks `name`'s request
        calls.append(lambda: _create("dave"))  # writes visibility rows for every reviewer
    caplog.set_level("WARNING", logger="accessportal.kernel.locking")
    outcomes = run_together(*calls)

    assert [o.error for o in outcomes] == [None] * len(calls)
    assert not [r for r in caplog.records if "lost a database conflict" in r.getMessage()]
    for request in AccessRequest.objects.all():
        _assert_consistent(request.id)


def test_locking_a_request_does_not_lock_its_requesters_account_row(race_policy):
    """Deterministic form of the deadlock above: while one transaction holds dave's request,
    another can still take a lock on dave's user row without waiting."""
    request = _create("dave")
    dave = _user("dave")

    def hold_request_then_probe_user():
        with transaction.atomic():
            request_lock(request.id)
            (probe,) = run_together(lock_dave_nowait)
        return probe

    def lock_dave_nowait():
        with transaction.atomic():
            return list(get_user_model().objects.select_for_update(nowait=True).filter(pk=dave.pk))

    probe = hold_request_then_probe_user()
    assert probe.ok, repr(probe.error)


def test_locking_a_request_does_not_block_rows_that_merely_reference_it(race_policy):
    """A request lock must not conflict with the KEY SHARE lock PostgreSQL takes on the
    request row when another transaction inserts a row pointing at it (a visibility row
    written by a policy change, a notification): the lock is FOR NO KEY UPDATE."""
    request = _create("dave")

    def key_share_nowait():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM requests_app_accessrequest WHERE id = %s FOR KEY SHARE NOWAIT",
                [request.id],
            )
            return cursor.fetchone()

    with transaction.atomic():
        request_lock(request.id)
        (probe,) = run_together(key_share_nowait)
    assert probe.ok, repr(probe.error)


def test_policy_changes_during_reviews_finish_without_deadlock_or_retry(race_policy, caplog):
    """Applying policies rewrites the visibility rows of every pending request, then takes
    the audit head; reviews lock a request and then want the audit head. Both kinds must
    finish first time (no deadlock victim to retry)."""
    from policies_app.loader import plan_from_texts
    from policies_app.services.apply import policies_apply

    requests = [_create("dave") for _ in range(8)]
    plan = plan_from_texts([("race.yaml", RACE_POLICY.replace("name: judge2", "name: judge3"))])
    calls = [_review(r.id, REVIEWERS[i]) for i, r in enumerate(requests)]
    calls += [lambda: policies_apply(plan=plan)] * 2
    caplog.set_level("WARNING", logger="accessportal.kernel.locking")
    outcomes = run_together(*calls)

    assert [o.error for o in outcomes] == [None] * len(calls)
    assert not [r for r in caplog.records if "lost a database conflict" in r.getMessage()]
    for request in requests:
        assert _assert_consistent(request.id).state == RequestState.APPROVED


# --- deadlocks are retried, or answered with 409 ----------------------------------------


def _deadlocking_pair(first_attempt_barrier, attempts: Counter):
    """Two transactions locking two requests in opposite orders: PostgreSQL aborts one of
    them with deadlock_detected. Only the first attempt waits at the barrier."""

    def locker(name, first, second):
        @retry_on_conflict
        @transaction.atomic
        def run():
            attempts[name] += 1
            request_lock(first)
            if attempts[name] == 1:
                first_attempt_barrier.wait()
            request_lock(second)
            return name

        return run

    return locker


def test_a_deadlock_victim_is_retried_and_both_changes_complete(race_policy):
    a, b = _create("dave"), _create("grace")
    attempts: Counter = Counter()
    locker = _deadlocking_pair(threading.Barrier(2), attempts)
    one, two = run_together(locker("one", a.id, b.id), locker("two", b.id, a.id))

    assert (one.value, two.value) == ("one", "two"), (one.error, two.error)
    assert sorted(attempts.values()) == [1, 2], "exactly the deadlock victim ran again"


def test_a_deadlock_that_keeps_happening_is_a_409_conflict(race_policy, monkeypatch):
    monkeypatch.setattr(locking, "ATTEMPTS", 1)
    a, b = _create("dave"), _create("grace")
    attempts: Counter = Counter()
    locker = _deadlocking_pair(threading.Barrier(2), attempts)
    outcomes = run_together(locker("one", a.id, b.id), locker("two", b.id, a.id))

    assert sorted(o.ok for o in outcomes) == [False, True]
    (loser,) = [o for o in outcomes if not o.ok]
    assert isinstance(loser.error, ConcurrentUpdate) and loser.error.status == 409
    assert "try again" in loser.error.message


def test_a_deadlock_inside_an_outer_transaction_is_a_409_not_a_replay(race_policy):
    """Replaying is only safe for a whole transaction: nested, the service answers 409."""
    a, b = _create("dave"), _create("grace")
    attempts: Counter = Counter()
    locker = _deadlocking_pair(threading.Barrier(2), attempts)

    def nested(run):
        def call():
            with transaction.atomic():
                return run()

        return call

    outcomes = run_together(nested(locker("one", a.id, b.id)), nested(locker("two", b.id, a.id)))
    assert sorted(o.ok for o in outcomes) == [False, True]
    (loser,) = [o for o in outcomes if not o.ok]
    assert isinstance(loser.error, ConcurrentUpdate)
    assert sorted(attempts.values()) == [1, 1]
