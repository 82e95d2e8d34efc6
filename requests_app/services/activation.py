"""Starting scheduled access: grants whose window opens after approval (`assume_start_time`).

At the start time a worker re-checks that the requester may still have each granted role or
resource under the policies of that moment. What is still allowed starts (and the requester
is told); what is not is refused with an audited reason, and a request left with nothing is
revoked by the system. Access checks compare windows with the clock either way (invariant 5).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.errors import NotFound
from accessportal.kernel.locking import retry_on_conflict
from policies_app.engine import PolicySet, Subject
from policies_app.selectors import subject_for
from requests_app.models import AccessRequest, Grant
from requests_app.services.eligibility import item_refusal, requester_refusal
from requests_app.services.locking import request_lock
from requests_app.services.outbox import outbox_enqueue, request_payload
from requests_app.services.provisioning import provisioning_sync
from requests_app.services.transitions import request_transition_save


def _refusal(grant: Grant, request: AccessRequest, subject: Subject, policies: PolicySet) -> str:
    """Why the requester may no longer have this grant's access, or "" when they may."""
    return requester_refusal(request) or item_refusal(
        subject, policies, role=grant.role or "", resource=grant.resource or ""
    )


@retry_on_conflict
@transaction.atomic
def grants_activate_for(*, request_id: object, now: datetime | None = None) -> int:
    """Start the due grants of one approved request, re-checking policy; idempotent.

    Returns how many grants it decided (started or refused); 0 when there was nothing to do
    (not approved any more, not yet due, already decided, or already over).
    """
    now = now or timezone.now()
    try:
        request = request_lock(request_id)
    except NotFound:
        return 0
    if request.state != RequestState.APPROVED:
        return 0
    grants = list(
        Grant.objects.select_for_update()
        .open_at(now)
        # revoked_at=None: never revoked (and the partial index grant_unactivated_starts)
        .filter(request=request, activated_at=None, revoked_at=None)
        .order_by("id")
    )
    if not grants:
        return 0
    policies = PolicySet.load()
    subject = subject_for(request.user, policies)
    refused = {g.pk: reason for g in grants if (reason := _refusal(g, request, subject, policies))}
    started = [g for g in grants if g.pk not in refused]
    Grant.objects.filter(pk__in=[g.pk for g in started]).update(activated_at=now)
    Grant.objects.filter(pk__in=list(refused)).update(revoked_at=now, ended_at=now)
    # Started access is provisioned; a refused extension's continuation is taken back.
    provisioning_sync([request.user_id], now)
    audit = [
        AuditEntry(
            AuditAction.GRANT_ACTIVATED,
            "grant",
            str(g.pk),
            data={"request": str(request.id), "target": g.target, "expires": g.expires},
        )
        for g in started
    ] + [
        AuditEntry(
            AuditAction.GRANT_ACTIVATION_REFUSED,
            "grant",
            str(g.pk),
            data={"request": str(request.id), "target": g.target, "reason": refused[g.pk]},
        )
        for g in grants
        if g.pk in refused
    ]
    still_open = Grant.objects.filter(request=request, revoked_at=None).exists()
    if refused and not still_open:
        reason = "policy changed before the access started: " + "; ".join(refused.values())
        request_transition_save(
            request, RequestState.REVOKED, revoked_at=now, revoked_by=None, revoke_reason=reason
        )
        audit.append(
            AuditEntry(
                AuditAction.REQUEST_REVOKED,
                "access_request",
                str(request.id),
                data={"reason": reason, "roles": request.roles, "resources": request.resources},
            )
        )
    recipient = [request.user.get_username()]
    if started:
        outbox_enqueue(
            event="access.started",
            request_id=request.id,
            recipients=recipient,
            payload={**request_payload(request), "started": [g.target for g in started]},
        )
    if refused:
        outbox_enqueue(
            event="access.refused",
            request_id=request.id,
            recipients=recipient,
            payload={
                **request_payload(request),
                "refused": {g.target: refused[g.pk] for g in grants if g.pk in refused},
            },
        )
    audit_record_many(audit)  # last: it takes the chain head
    return len(grants)


def grants_activate_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Start every grant whose start has come, one request per transaction; idempotent."""
    now = now or timezone.now()
    request_ids = (
        Grant.objects.open_at(now)
        .filter(activated_at=None, revoked_at=None)
        .order_by("starts")
        .values_list("request_id", flat=True)
    )
    return sum(
        grants_activate_for(request_id=pk, now=now)
        for pk in list(dict.fromkeys(request_ids[:limit]))
    )
