"""Applying one assignment: claim, call the provisioner outside any transaction, record.

Never twice at once for one (user, target): the claim is a compare-and-swap that takes a
lease (`PROVISION_CLAIM_LEASE`; a worker killed mid-call leaves it to run out). The outcome
is recorded only if `desired` did not flip meanwhile (the generation the claim saw): a
revoke that arrives while a grant call is in flight is run right after it, and the grant's
outcome is not written over it. Failures retry with backoff (`PROVISION_RETRY_BACKOFF`,
doubling to `PROVISION_RETRY_BACKOFF_MAX`) for as long as they fail; the first failure of a
generation is audited and notified.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, ProvisionState
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from accessportal.provisioners.base import Principal, ProvisionError, provisioner_get, redact
from policies_app.models import UserTraits
from requests_app.models import PROVISION_UNSETTLED, AccessRequest, Grant, ProvisionAssignment
from requests_app.selectors import eligible_reviewers
from requests_app.services.jobs import job_after_commit
from requests_app.services.outbox import outbox_enqueue, request_payload

logger = logging.getLogger(__name__)

MAX_ERROR = 2000
NOT_RETRYABLE = " (retrying slowly: the target must be fixed first)"


def provision_retry_delay(attempts: int, *, retryable: bool = True) -> timedelta:
    """Wait before attempt `attempts + 1`: the notifications' shape (base doubled per failed
    attempt, capped), at the cap at once for a failure trying again cannot fix."""
    base, cap = settings.PROVISION_RETRY_BACKOFF, settings.PROVISION_RETRY_BACKOFF_MAX
    if not retryable:
        return timedelta(seconds=cap)
    return timedelta(seconds=min(cap, base * 2 ** max(0, min(attempts, 40) - 1)))


def provision_claim(*, assignment_id: int, now: datetime) -> ProvisionAssignment | None:
    """Take an unsettled, due, unleased assignment for one attempt (one UPDATE); None when
    it is settled, not due, or someone else holds it."""
    taken = ProvisionAssignment.objects.filter(
        PROVISION_UNSETTLED,
        Q(claimed_until=None) | Q(claimed_until__lte=now),
        pk=assignment_id,
        next_attempt_at__lte=now,
    ).update(
        claimed_until=now + timedelta(seconds=settings.PROVISION_CLAIM_LEASE),
        attempts=F("attempts") + 1,
    )
    if taken != 1:
        return None
    return ProvisionAssignment.objects.select_related("user", "target").get(pk=assignment_id)


def principal_for(user) -> Principal:
    """The person as provisioners see them: user name, email, traits."""
    traits = UserTraits.objects.filter(user=user).values_list("traits", flat=True).first() or {}
    return Principal(
        username=user.get_username(),
        email=user.email or "",
        traits={str(k): tuple(map(str, v)) for k, v in traits.items() if isinstance(v, list)},
    )


def provision_account(row: ProvisionAssignment) -> str:
    """The account a claimed call acts on (the grant's new one is not saved here).

    A revoke takes the saved account (the one granted, even if the user was renamed
    since), and works it out only when none was ever saved, saving it before the call. A
    grant works it out from the person now (user name, email, traits); `_call` saves it
    before the grant call, so that whatever becomes of the call (stale, failed, a lost
    answer) a later revoke knows which account may have been added. Raises like the
    provisioner's `account`."""
    if not row.desired and row.account:
        return row.account
    account = provisioner_get(row.target.provisioner).account(
        principal_for(row.user), row.target.config
    )
    if not row.desired and account:
        _save_account(row, account)
    return account


def _save_account(row: ProvisionAssignment, account: str) -> None:
    if account != row.account:
        ProvisionAssignment.objects.filter(pk=row.pk).update(account=account)
        row.account = account


def _replaced_account(row: ProvisionAssignment, account: str) -> str:
    """The saved account a grant of `account` must take out first: the one saved when it
    differs (the user was renamed, the target's login template changed) and the row is not
    confirmed removed - an earlier grant of it may have reached the target even if its
    answer was lost. "" when there is none."""
    differs = row.account and account and row.account != account
    return row.account if differs and row.state != ProvisionState.REMOVED else ""


def _call(row: ProvisionAssignment) -> tuple[str, str, ProvisionError | None]:
    """Grant or revoke in the target; (account, replaced account, error). Never raises.

    A grant whose account differs from the saved one revokes the saved one first
    (idempotent); only once that succeeded is the new account saved and granted. If the
    revoke fails the saved account stays, so the next attempt takes it out again."""
    config = row.target.config
    account, replaced = row.account, ""
    try:
        provisioner = provisioner_get(row.target.provisioner)
        account = provision_account(row)
        if row.desired:
            if not account:
                raise ProvisionError("the user has no account in this target", retry=False)
            replaced = _replaced_account(row, account)
            if replaced:
                try:
                    provisioner.revoke(replaced, config)
                except Exception:
                    account = replaced  # still the saved one: tried again next attempt
                    raise
            _save_account(row, account)
            provisioner.grant(account, config)
        elif account:  # no account: nothing to take out
            provisioner.revoke(account, config)
        return account, replaced, None
    except ProvisionError as err:
        return account, replaced, err
    except Exception as err:  # noqa: BLE001 - a provisioner bug is a retryable failure
        logger.exception("provisioner %s failed", row.target.provisioner)
        return account, replaced, ProvisionError(f"{type(err).__name__}: {err}")


def provision_run(*, assignment_id: int, now: datetime | None = None) -> str:
    """Run one assignment if it is due and free: "applied", "removed", "failed", "stale"
    (desired flipped during the call: run again at once), or "" (nothing to do)."""
    row = provision_claim(assignment_id=assignment_id, now=now or timezone.now())
    if row is None:
        return ""
    account, replaced, error = _call(row)  # outside any transaction: no lock held
    target = row.target
    observe.provisioning_called(
        observe.target_label(target.provisioner, target.key), target.provisioner, error is None
    )
    return provision_record(
        assignment_id=row.pk,
        generation=row.generation,
        account=account,
        replaced=replaced,
        error=error,
        now=timezone.now(),
    )


def _error_text(error: ProvisionError, config: dict) -> str:
    text = redact(str(error) or type(error).__name__, config)
    return (text + ("" if error.retry else NOT_RETRYABLE))[:MAX_ERROR]


@retry_on_conflict
@transaction.atomic
def provision_record(
    *,
    assignment_id: int,
    generation: int,
    account: str,
    error: ProvisionError | None,
    now: datetime,
    replaced: str = "",
) -> str:
    """Write the outcome of one call, if `desired` has not flipped since the claim; audited
    (applied, removed, first failure of a generation; `replaced`: the saved account a
    grant took out first), audit appended last."""
    row = (
        ProvisionAssignment.objects.select_for_update(of=("self",))
        .select_related("target", "user")
        .filter(pk=assignment_id)
        .first()
    )
    if row is None:
        return ""
    if row.generation != generation:
        # The call answered an older question: free the lease and run the new one now.
        ProvisionAssignment.objects.filter(pk=row.pk).update(claimed_until=None)
        job_after_commit("provision_assignment", assignment_id=row.pk)
        return "stale"
    row.claimed_until = None
    fields = ["claimed_until", "state", "last_error", "updated"]
    data = {
        "user": row.user.get_username(),
        "target": row.target.label,
        "provisioner": row.target.provisioner,
        "account": account,
        "generation": generation,
    }
    if replaced:
        data["replaced_account"] = replaced
    if error is None:
        row.account, row.last_error, row.attempts = account, "", 0
        if row.desired:
            row.state, row.applied_at, action = ProvisionState.APPLIED, now, "applied"
            fields += ["account", "applied_at", "attempts"]
        else:
            row.state, row.removed_at, action = ProvisionState.REMOVED, now, "removed"
            fields += ["account", "removed_at", "attempts"]
        row.save(update_fields=fields)
        audit_action = (
            AuditAction.PROVISION_APPLIED if row.desired else AuditAction.PROVISION_REMOVED
        )
        audit_record_many(
            [AuditEntry(audit_action, "provision_assignment", str(row.pk), None, data)]
        )
        return action
    first = row.state != ProvisionState.FAILED
    row.state = ProvisionState.FAILED
    row.last_error = _error_text(error, row.target.config)
    row.next_attempt_at = now + provision_retry_delay(row.attempts, retryable=error.retry)
    row.save(update_fields=[*fields, "next_attempt_at"])
    if first:
        provision_failure_notify(row)
        data |= {"action": "grant" if row.desired else "revoke", "error": row.last_error}
        audit_record_many(
            [
                AuditEntry(
                    AuditAction.PROVISION_FAILED, "provision_assignment", str(row.pk), None, data
                )
            ]
        )
    return "failed"


def _giving_request(row: ProvisionAssignment) -> AccessRequest | None:
    """The latest request whose grant names the target for this user (None: standing)."""
    target = row.target
    grant = (
        Grant.objects.filter(user_id=row.user_id)
        .filter(Q(role__in=target.roles) | Q(resource__in=target.resources))
        .select_related("request", "request__user")
        .order_by("-created", "-id")
        .first()
    )
    return grant.request if grant else None


def provision_failure_notify(row: ProvisionAssignment) -> None:
    """Tell the user and, for grant-driven access, the eligible reviewers of the request
    that gave it, that a target refused (outbox, routed by the notification rules)."""
    request = _giving_request(row)
    recipients = {row.user.get_username()}
    payload = {
        "user": row.user.get_username(),
        "target": row.target.label,
        "provisioner": row.target.provisioner,
        "action": "grant" if row.desired else "revoke",
        "error": row.last_error,
    }
    if request is not None:
        field = get_user_model().USERNAME_FIELD
        recipients |= set(eligible_reviewers(request).values_list(field, flat=True))
        payload = {**request_payload(request), **payload}
    else:
        payload |= {"roles": sorted(row.target.roles), "resources": sorted(row.target.resources)}
    outbox_enqueue(
        event="provision.failed",
        request_id=request.id if request else None,
        recipients=recipients,
        payload=payload,
    )


def provision_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Ids of unsettled assignments that are due and not leased (the sweep runs each)."""
    now = now or timezone.now()
    return list(
        ProvisionAssignment.objects.filter(PROVISION_UNSETTLED, next_attempt_at__lte=now)
        .filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
