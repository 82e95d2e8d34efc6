"""What an operator may ask of the provisioning workers from the desk or the API: retry
failed assignments now, and reconcile a target now. Both only make work due (the workers
do it after commit, as always), check the model permission, and are audited."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, ProvisionState
from accessportal.kernel.errors import NotAllowed
from accessportal.kernel.locking import retry_on_conflict
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment
from requests_app.services.jobs import job_after_commit

RETRY_PERMISSION = "requests_app.change_provisionassignment"
RECONCILE_PERMISSION = "policies_app.change_provisiontarget"


@retry_on_conflict
@transaction.atomic
def provision_retry(*, assignment_ids: Iterable[int], actor: AbstractBaseUser) -> int:
    """Make the FAILED assignments among `assignment_ids` due now, attempts reset, and queue
    their workers (admin "retry now"). Needs `requests_app.change_provisionassignment`;
    audited per assignment. Returns how many; settled or unfailed rows are left alone."""
    if not actor.has_perm(RETRY_PERMISSION):
        raise NotAllowed("you may not retry provisioning")
    now = timezone.now()
    rows = list(
        ProvisionAssignment.objects.select_for_update(of=("self",))
        .select_related("user", "target")
        .filter(pk__in=list(assignment_ids), state=ProvisionState.FAILED)
        .order_by("pk")  # the engine's lock order
    )
    audit = []
    for row in rows:
        # Compare-and-swap on the failure seen (the row is locked, so this is a guard).
        due = ProvisionAssignment.objects.filter(
            pk=row.pk, state=ProvisionState.FAILED, generation=row.generation
        ).update(next_attempt_at=now, attempts=0)
        if not due:
            continue
        job_after_commit("provision_assignment", assignment_id=row.pk)
        audit.append(
            AuditEntry(
                AuditAction.PROVISION_RETRIED,
                "provision_assignment",
                str(row.pk),
                actor,
                {
                    "user": row.user.get_username(),
                    "target": row.target.label,
                    "provisioner": row.target.provisioner,
                    "action": "grant" if row.desired else "revoke",
                    "attempts_before": row.attempts,
                },
            )
        )
    audit_record_many(audit)  # last: it takes the chain head
    return len(audit)


@retry_on_conflict
@transaction.atomic
def provision_reconcile_request(*, target_ids: Iterable[int], actor: AbstractBaseUser) -> int:
    """Queue a reconcile of each of these targets after commit (admin "reconcile now",
    `POST provisioning/targets/{id}/reconcile/`). Needs `policies_app.change_provisiontarget`;
    audited per target. Returns how many were queued."""
    if not actor.has_perm(RECONCILE_PERMISSION):
        raise NotAllowed("you may not reconcile provisioning targets")
    targets = list(ProvisionTarget.objects.filter(pk__in=list(target_ids)).order_by("pk"))
    audit = []
    for target in targets:
        job_after_commit("provision_reconcile_one", target_id=target.pk)
        audit.append(
            AuditEntry(
                AuditAction.PROVISION_RECONCILE_REQUESTED,
                "provision_target",
                str(target.pk),
                actor,
                {"target": target.label, "provisioner": target.provisioner},
            )
        )
    audit_record_many(audit)
    return len(targets)
