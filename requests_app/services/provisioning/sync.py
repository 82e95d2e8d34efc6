"""Keeping the (user, target) assignments' `desired` equal to what should be.

Called inside the transaction of the change (approval, activation, revocation, expiry,
deprovisioning, standing roles, targets), before its audit append: rows are written, and a
worker is queued after commit for each one whose `desired` flipped (invariant 11).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import F
from django.utils import timezone

from accessportal.kernel.choices import ProvisionState
from accessportal.kernel.locking import PROVISION_ALL_LOCK_CLASS, provisioning_lock_all
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment
from requests_app.selectors.provisioning import (
    desired_members_of_target,
    desired_targets_for_users,
    live_targets,
)
from requests_app.services.jobs import job_after_commit

# The class id of the per-user advisory locks (pg_advisory_xact_lock(class, user id)):
# "AP" "PS" (Access Portal, provisioning sync), so no other lock of the portal shares it.
USER_LOCK_CLASS = 0x41505053
# ... and of the one lock a sync of whole targets takes exclusively, per-user syncs shared.
ALL_LOCK_CLASS = PROVISION_ALL_LOCK_CLASS
# Above this many users a sync takes the exclusive `lock_all` instead of a lock per user:
# each advisory lock takes a slot in PostgreSQL's shared lock table
# (max_locks_per_transaction x max_connections, 6,400 on defaults), and a directory push, an
# sso_mapping change or a batch of expiries can name thousands ("out of shared memory").
LOCK_USERS_MAX = 200


def lock_users(user_ids: Iterable[int]) -> None:
    """Serialize every sync of these users until the transaction ends.

    A sync reads the grants (what should be), then locks and writes the assignments. Two
    transactions changing one user's access at once (revoke A, approve B for the same role)
    could each read the grants before the other committed, and the later writer would
    write what it read: `desired` False although B is open. With this lock the second
    sync waits, and its reads (READ COMMITTED: each statement sees what committed before
    it) see the first one's grants. PostgreSQL: a transaction-scoped advisory lock per user,
    taken in ascending id order in one statement, after the shared side of the one lock a
    sync of whole targets takes exclusively (`lock_all`). SQLite has one writer at a time:
    nothing. Above `LOCK_USERS_MAX` users: the exclusive `lock_all` (one lock, however
    many users) - every other sync waits for this transaction.

    Lock order: request -> extensions -> grants -> these user locks -> assignments -> audit
    head. Every caller takes them after its grant rows and before any assignment row, so
    they add no cycle to that order; a transaction taking them in two batches (two syncs
    of different users) can deadlock with another doing the same in the other order, which
    PostgreSQL detects and `retry_on_conflict` replays.
    """
    ids = sorted({int(uid) for uid in user_ids})
    if not ids or connection.vendor != "postgresql":
        return
    if len(ids) > LOCK_USERS_MAX:
        lock_all()
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, 0)", [ALL_LOCK_CLASS])
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, u.id)) FROM "
            "(SELECT id FROM unnest(%s::integer[]) AS id ORDER BY id) AS u",
            [USER_LOCK_CLASS, ids],
        )


def lock_all() -> None:
    """Serialize a sync of whole targets (`provisioning_resync_targets`: a policy apply,
    the reconciler) with every per-user sync until the transaction ends: the exclusive
    side of the lock whose shared side `lock_users` takes first. Taken before any
    assignment row, like the user locks; nothing on SQLite. A transaction that also syncs
    users takes it before them (`provisioning_lock_all`: the policy apply)."""
    provisioning_lock_all()


def _after_lock(now: datetime) -> datetime:
    """The instant to read the grants at once the user locks are held: `now`, or the clock
    if later. A transaction that waited for a lock may have begun before the one it waited
    for: at its own earlier `now`, a grant that one just started (starts = its later `now`)
    would not be open yet, and `desired` would be written False although it is."""
    return max(now, timezone.now())


def _flip(row: ProvisionAssignment, desired: bool, now: datetime) -> None:
    """Point an assignment at `desired` (new generation) and queue its worker. A row whose
    state already is the goal (APPLIED, and access back before it was removed) stays
    settled; anything else is pending."""
    settled = ProvisionState.APPLIED if desired else ProvisionState.REMOVED
    state = settled if row.state == settled else ProvisionState.PENDING
    ProvisionAssignment.objects.filter(pk=row.pk).update(
        desired=desired,
        generation=F("generation") + 1,
        state=state,
        attempts=0,
        next_attempt_at=now,
        last_error="",
    )
    if state != settled:
        job_after_commit("provision_assignment", assignment_id=row.pk)


def _apply(wanted: dict[tuple[int, int], bool], rows, now: datetime) -> int:
    """Create the missing desired rows and flip the differing ones; returns how many
    changed. `rows`: the existing assignments of those pairs, locked."""
    have = {(r.user_id, r.target_id): r for r in rows}
    missing = [pair for pair, want in wanted.items() if want and pair not in have]
    changed = 0
    if missing:
        ProvisionAssignment.objects.bulk_create(
            [
                ProvisionAssignment(
                    user_id=uid, target_id=tid, desired=True, next_attempt_at=now, created=now
                )
                for uid, tid in missing
            ],
            ignore_conflicts=True,  # a concurrent sync made it: compared below, locked
        )
        missing_set = set(missing)
        for row in (
            ProvisionAssignment.objects.select_for_update()
            .filter(
                user_id__in={uid for uid, _ in missing},
                target_id__in={tid for _, tid in missing},
            )
            .order_by("pk")  # one lock order for every sync
        ):
            if (row.user_id, row.target_id) not in missing_set:
                continue
            if row.desired:  # ours, or made desired by a concurrent sync: a worker goes
                job_after_commit("provision_assignment", assignment_id=row.pk)
            else:
                _flip(row, True, now)
            changed += 1
    for pair, row in have.items():
        if pair in wanted and row.desired != wanted[pair]:
            _flip(row, wanted[pair], now)
            changed += 1
    return changed


def provisioning_sync(user_ids: Iterable[int], now: datetime | None = None) -> int:
    """Bring `user_ids`' assignments to what should be now; returns how many changed.

    One query (the live targets) when nothing is provisioned. Targets retired since are
    resynced by the policy change that retired them."""
    now = now or timezone.now()
    user_ids = set(user_ids)
    targets = live_targets()
    if not targets or not user_ids:
        return 0
    lock_users(user_ids)  # before reading the grants: see lock_users
    now = _after_lock(now)
    desired = desired_targets_for_users(user_ids, now, targets)
    target_ids = [t.id for t in targets]
    wanted = {(uid, tid): tid in desired[uid] for uid in user_ids for tid in target_ids}
    rows = (
        ProvisionAssignment.objects.select_for_update()
        .filter(user_id__in=user_ids, target_id__in=target_ids)
        .order_by("pk")  # one lock order for every sync
    )
    return _apply(wanted, list(rows), now)


def provisioning_resync_targets(
    target_ids: Iterable[int] | None = None, now: datetime | None = None
) -> int:
    """Bring every assignment of the given targets (default: every live target and every
    retired one still holding members) to what should be; returns how many changed."""
    now = now or timezone.now()
    targets = ProvisionTarget.objects.order_by("id")
    if target_ids is None:
        retired_with_members = ProvisionAssignment.objects.filter(
            target__retired_at__isnull=False, desired=True
        ).values("target_id")
        targets = targets.filter(retired_at=None) | targets.filter(pk__in=retired_with_members)
    else:
        targets = targets.filter(pk__in=list(target_ids))
    targets = list(targets)
    # Every per-user sync waits while this runs (lock_all), and this waits for the ones
    # running: the members read below see every change committed before, and none can
    # commit in between. One lock, however many members (a lock per user would exhaust
    # PostgreSQL's shared lock table at a few thousand).
    lock_all()
    now = _after_lock(now)
    changed = 0
    for target in targets:
        members = desired_members_of_target(target, now)
        # Compared on plain values first; only the rows that differ are locked, read again
        # and changed (`_apply` compares them again under the lock).
        current = dict(
            ProvisionAssignment.objects.filter(target=target).values_list("user_id", "desired")
        )
        differing = {uid for uid, desired in current.items() if desired != (uid in members)}
        missing = members - current.keys()
        if not differing and not missing:
            continue
        rows = list(
            ProvisionAssignment.objects.select_for_update()
            .filter(target=target, user_id__in=differing)
            .order_by("pk")  # one lock order for every sync
        )
        wanted = {(uid, target.pk): uid in members for uid in differing}
        wanted |= {(uid, target.pk): True for uid in missing}
        changed += _apply(wanted, rows, now)
    return changed


def on_policy_changed(sender, user_ids: Iterable[int] | None = None, **kwargs) -> None:
    """Receiver of `policies_app.signals.review_rules_changed` without `user_ids` (a policy
    apply, a role or resource delete: roles, members or targets changed): every target's
    assignments. With `user_ids` the visibility receiver's `accounts_profiles_sync` syncs
    those users' assignments."""
    if user_ids is None:
        provisioning_resync_targets()
