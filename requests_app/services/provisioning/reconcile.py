"""The reconciler: each target's members compared with what should be, drift repaired both
ways, every repair audited, lag and failures recorded on the target (admin, API, metrics).

Per target: the assignments are first brought to what should be (a missed expiry is caught
here); then `members(target)` is read outside any transaction and compared:
- a desired, APPLIED assignment whose account is missing goes back to PENDING and runs
  (`provision.drift_added`);
- an account of a known user who should not be a member is revoked through their
  assignment (`provision.drift_removed`);
- an account nobody in the portal owns is revoked only when the target is `managed`
  (`provision.drift_removed`), and otherwise left alone.
A failing target is recorded and skipped; the others go on.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, ProvisionState
from accessportal.kernel.locking import retry_on_conflict
from accessportal.provisioners.base import ProvisionError, provisioner_get, redact
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment
from requests_app.services.jobs import job_after_commit
from requests_app.services.provisioning.sync import provisioning_resync_targets
from requests_app.services.provisioning.worker import MAX_ERROR, principal_for

logger = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    """What one reconcile run did, per target id: repairs, or the error that stopped it."""

    repairs: dict[int, int] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)


def _targets_to_reconcile():
    """Live targets, and retired ones until every member is confirmed removed."""
    unsettled_retired = ProvisionAssignment.objects.filter(
        target__retired_at__isnull=False
    ).exclude(desired=False, state=ProvisionState.REMOVED)
    return ProvisionTarget.objects.filter(
        Q(retired_at=None) | Q(pk__in=unsettled_retired.values("target_id"))
    ).order_by("id")


def provision_reconcile(*, now: datetime | None = None) -> ReconcileReport:
    """Reconcile every target; a failing one never stops the others."""
    report = ReconcileReport()
    for target_id in list(_targets_to_reconcile().values_list("pk", flat=True)):
        try:
            report.repairs[target_id] = provision_reconcile_target(target_id=target_id, now=now)
        except ReconcileFailed as err:
            report.errors[target_id] = str(err)
        except Exception as err:  # noqa: BLE001 - one target's bug must not stop the rest
            logger.exception("reconciling provisioning target %s failed", target_id)
            report.errors[target_id] = f"{type(err).__name__}"
            _finish(target_id, now or timezone.now(), error=report.errors[target_id])
    return report


class ReconcileFailed(Exception):
    """The target could not be read or repaired; recorded on it."""


def _lag(target: ProvisionTarget, now: datetime) -> float | None:
    if target.last_reconciled_at is None:
        return None
    due = target.last_reconciled_at + timedelta(seconds=settings.PROVISION_RECONCILE_INTERVAL)
    return max(0.0, (now - due).total_seconds())


def _finish(target_id: int, now: datetime, *, error: str = "", repairs: int = 0) -> None:
    target = ProvisionTarget.objects.filter(pk=target_id).first()
    if target is None:
        return
    ProvisionTarget.objects.filter(pk=target_id).update(
        last_reconciled_at=now,
        reconcile_lag_seconds=_lag(target, now),
        last_reconcile_error=error[:MAX_ERROR],
        reconcile_repairs=repairs,
    )


@retry_on_conflict
@transaction.atomic
def _resync(target_id: int, now: datetime) -> None:
    provisioning_resync_targets([target_id], now)


def _entry(action: str, kind: str, pk: int, data: dict) -> AuditEntry:
    return AuditEntry(action, f"provision_{kind}", str(pk), None, data)


@dataclass(frozen=True)
class _Row:
    """What the comparison needs of an assignment (plain values: a target may have tens of
    thousands, and model instances cost more than the database work)."""

    pk: int
    user_id: int
    account: str
    desired: bool
    state: str
    generation: int


def _rows(target: ProvisionTarget) -> list[_Row]:
    fields = ("pk", "user_id", "account", "desired", "state", "generation")
    return [
        _Row(*values)
        for values in ProvisionAssignment.objects.filter(target=target).values_list(*fields)
    ]


def _known_accounts(rows: list[_Row], provisioner, config: dict) -> dict[str, _Row]:
    """{account: row}: recorded accounts, and the accounts of desired rows never applied
    (asked of the provisioner; their users read in one query)."""
    known = {r.account: r for r in rows if r.account}
    unapplied = [r for r in rows if r.desired and not r.account]
    if unapplied:
        users = get_user_model().objects.in_bulk([r.user_id for r in unapplied])
        for row in unapplied:
            # No account (or a provisioner that cannot say): nothing of theirs to spare.
            with contextlib.suppress(Exception):
                account = provisioner.account(principal_for(users[row.user_id]), config)
                known.setdefault(account, row)
    return known


def provision_reconcile_target(*, target_id: int, now: datetime | None = None) -> int:
    """Reconcile one target; returns its repairs. Raises ReconcileFailed (recorded on the
    target) when its members cannot be read or an unknown account cannot be removed."""
    now = now or timezone.now()
    _resync(target_id, now)
    target = ProvisionTarget.objects.get(pk=target_id)
    config = target.config
    try:
        provisioner = provisioner_get(target.provisioner)
        members = set(provisioner.members(config))
    except Exception as err:  # noqa: BLE001 - ProvisionError, or a provisioner bug
        message = redact(str(err) or type(err).__name__, config)
        if not isinstance(err, ProvisionError):
            message = f"{type(err).__name__}: {message}"
        _finish(target_id, now, error=message)
        raise ReconcileFailed(message) from err
    rows = _rows(target)
    known = _known_accounts(rows, provisioner, config)
    audit: list[AuditEntry] = []
    unknown = sorted(a for a in members - set(known) if a) if target.managed else []
    errors = []
    for account in unknown:
        try:
            provisioner.revoke(account, config)
        except Exception as err:  # noqa: BLE001
            errors.append(f"{account}: {redact(str(err) or type(err).__name__, config)}")
            continue
        audit.append(
            _entry(
                AuditAction.PROVISION_DRIFT_REMOVED,
                "target",
                target.pk,
                {"target": target.label, "account": account, "known": False},
            )
        )
    repairs = _record(target, rows, members, now, audit, "; ".join(errors))
    if errors:
        raise ReconcileFailed("; ".join(errors))
    return repairs


def _repair_known(target, rows, members, now) -> tuple[int, list[AuditEntry]]:
    """Known users' drift: desired and APPLIED but missing -> PENDING; not desired but
    present -> revoking. Written (locked, then compared again: desired, state and
    generation as read) with their audit entries; a fixed number of queries."""
    drift: dict[int, tuple[str, _Row]] = {}
    for row in rows:
        if not row.account:
            continue
        present = row.account in members
        if row.desired and row.state == ProvisionState.APPLIED and not present:
            drift[row.pk] = (AuditAction.PROVISION_DRIFT_ADDED, row)
        elif not row.desired and row.state == ProvisionState.REMOVED and present:
            drift[row.pk] = (AuditAction.PROVISION_DRIFT_REMOVED, row)
    if not drift:
        return 0, []
    locked = ProvisionAssignment.objects.select_for_update().filter(pk__in=drift).order_by("pk")
    unchanged = [
        pk
        for pk, desired, state, generation in locked.values_list(
            "pk", "desired", "state", "generation"
        )
        if (desired, state, generation)
        == (drift[pk][1].desired, drift[pk][1].state, drift[pk][1].generation)
    ]  # the others changed meanwhile; the next run looks again
    ProvisionAssignment.objects.filter(pk__in=unchanged).update(
        state=ProvisionState.PENDING, next_attempt_at=now, attempts=0, last_error="", updated=now
    )
    field = get_user_model().USERNAME_FIELD
    names = dict(
        get_user_model()
        .objects.filter(pk__in={drift[pk][1].user_id for pk in unchanged})
        .values_list("pk", field)
    )
    audit = []
    for pk in unchanged:
        action, row = drift[pk]
        data = {"target": target.label, "account": row.account, "user": names[row.user_id]}
        audit.append(_entry(action, "assignment", pk, data | {"known": True}))
        job_after_commit("provision_assignment", assignment_id=pk)
    return len(unchanged), audit


@retry_on_conflict
@transaction.atomic
def _record(target, rows, members, now, removed: list[AuditEntry], error: str) -> int:
    """One transaction: known users' repairs, the target's reconcile fields, and the audit
    of every repair (unknown accounts removed before it included); returns the repairs."""
    repairs, audit = _repair_known(target, rows, members, now)
    repairs += len(removed)
    _finish(target.pk, now, error=error, repairs=repairs)
    audit_record_many([*audit, *removed])  # last: it takes the chain head
    return repairs
