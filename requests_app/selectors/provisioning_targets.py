"""Provisioning targets as the desk and the API show them: their assignments counted by the
state every surface displays (`ProvisionAssignment.display_state`, the one rule), and which
ones are failing."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from accessportal.kernel.choices import ProvisionState
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment

DISPLAY_STATES = ("pending", "applied", "failed", "revoking", "removed")

# `ProvisionAssignment.display_state` as filters, for the desk's "state" filter: an SQL twin
# of the rule, kept beside it by a test that compares both on every (desired, state).
_APPLIED, _FAILED, _REMOVED = ProvisionState.APPLIED, ProvisionState.FAILED, ProvisionState.REMOVED
DISPLAY_STATE_Q = {
    "applied": Q(desired=True, state=_APPLIED),
    "failed": Q(desired=True, state=_FAILED),
    "pending": Q(desired=True) & ~Q(state__in=[_APPLIED, _FAILED]),
    "removed": Q(desired=False, state=_REMOVED),
    "revoking": Q(desired=False) & ~Q(state=_REMOVED),
}


def target_assignment_counts(target_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """{target id: {displayed state: n, ..., "failing": n}} in one grouped query; every
    displayed state is a key (0 when none). "failing": assignments whose last attempt failed,
    granting or revoking."""
    out = {tid: {s: 0 for s in (*DISPLAY_STATES, "failing")} for tid in target_ids}
    if not out:
        return out
    rows = (
        ProvisionAssignment.objects.filter(target_id__in=list(out))
        .values_list("target_id", "desired", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    for target_id, desired, state, n in rows:
        counts = out[target_id]
        counts[ProvisionAssignment(desired=desired, state=state).display_state] += n
        if state == ProvisionState.FAILED:
            counts["failing"] += n
    return out


def failing_assignments() -> QuerySet[ProvisionAssignment]:
    """Assignments whose last attempt failed (granting or revoking); retried with backoff."""
    return ProvisionAssignment.objects.filter(state=ProvisionState.FAILED)


def targets_failing(queryset: QuerySet[ProvisionTarget], failing: bool = True):
    """The targets of `queryset` that have (or, `failing=False`, have not) a failing
    assignment or a last reconcile that failed."""
    has_failing = Exists(failing_assignments().filter(target_id=OuterRef("pk")))
    queryset = queryset.annotate(_has_failing=has_failing)
    if failing:
        return queryset.filter(Q(_has_failing=True) | ~Q(last_reconcile_error=""))
    return queryset.filter(_has_failing=False, last_reconcile_error="")
