"""Ending a PENDING request: approved or denied (by reviews or directly), withdrawn by its
requester, or expired at its pending TTL. Each is one transaction under the request lock.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, actor_account, audit_record_many
from accessportal.kernel.choices import RESOLUTION_ACTIONS, RequestState
from accessportal.kernel.errors import (
    NotAllowed,
    ReasonRequired,
    SelfReviewRefused,
    ValidationFailed,
)
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from requests_app.models import AccessRequest
from requests_app.services.grants import grant_audit_data, grants_create_for
from requests_app.services.jobs import request_schedule_access
from requests_app.services.locking import ensure_pending, request_lock
from requests_app.services.outbox import (
    outbox_enqueue,
    outbox_enqueue_many,
    outbox_notice,
    request_payload,
    request_payload_of,
)
from requests_app.services.preconditions import ensure_if_match
from requests_app.services.text import clean_text
from requests_app.services.transitions import request_transition, requests_transition_claim


def resolve_locked(
    request: AccessRequest,
    state: RequestState,
    *,
    actor: AbstractBaseUser | str | None,
    reason: str,
    now: datetime,
    data: dict | None = None,
    audit: list[AuditEntry] | None = None,
    access_ends_by: datetime | None = None,
) -> AccessRequest:
    """Move a locked PENDING request to `state`, open its grants if approved, notify, audit.
    `access_ends_by` caps the access window (`grants_create_for`'s `ends_by`).

    The state table is checked first, so nothing (grants included) is written for a move
    it does not allow. With `audit`, the event is added to that list for the caller to
    append after the rest of its work (the chain head is taken last); without, it is
    appended here, last.
    """
    fields = request_transition(
        request,
        state,
        settle=True,  # profiles whose review window had not opened lose their rows
        resolved_at=now,
        resolved_by=actor_account(actor),
        resolve_reason=reason,
    )
    granted = []
    if state == RequestState.APPROVED:
        granted = grants_create_for(request, now, ends_by=access_ends_by)
    request.save(update_fields=[*fields, "resolved_by_override", "access_starts", "access_expires"])
    if state != RequestState.WITHDRAWN:
        outbox_enqueue(
            event=RESOLUTION_ACTIONS[state],  # the notification is named as its event
            request_id=request.id,
            recipients=[request.user.get_username()],
            payload={**request_payload(request), "resolve_reason": reason},
        )
    if state == RequestState.APPROVED:
        request_schedule_access(request)
    if state in (RequestState.APPROVED, RequestState.DENIED):
        observe.request_decided(request, state, now)  # every surface decides through here
    entry = AuditEntry(
        action=RESOLUTION_ACTIONS[state],
        target_type="access_request",
        target_id=str(request.id),
        actor=actor,
        data={
            "reason": reason,
            "access_starts": request.access_starts,
            "access_expires": request.access_expires,
            # The grants the approval opened (an evidence bundle's verifier checks the
            # request's grants against this list: none can be dropped or added unseen).
            **({"grants": [grant_audit_data(g) for g in granted]} if granted else {}),
            **(data or {}),
        },
    )
    if audit is None:
        audit_record_many([entry])
    else:
        audit.append(entry)
    return request


@retry_on_conflict
@transaction.atomic
def access_request_resolve(
    *,
    request_id: object,
    actor: AbstractBaseUser,
    state: str,
    reason: str,
    if_match: Collection[str] | None = None,
) -> AccessRequest:
    """Approve or deny directly, bypassing thresholds.

    Caller must hold `requests_app.resolve_accessrequest` and may never resolve their own
    request, superusers included (dual authorization). A reason is required. A superuser
    who holds the permission only as a superuser resolves by override: the request and its
    audit event say so.
    """
    if state not in (RequestState.APPROVED, RequestState.DENIED):
        raise ValidationFailed("state must be APPROVED or DENIED", field="state")
    reason = clean_text(reason, field="reason")
    request = request_lock(request_id)
    if request.user_id == actor.pk:
        raise SelfReviewRefused("nobody may resolve their own request")
    if not actor.has_perm("requests_app.resolve_accessrequest"):
        raise NotAllowed("you may not approve or deny requests directly")
    if not reason:
        raise ReasonRequired("a reason is required to resolve a request", field="reason")
    ensure_if_match(request, if_match)
    ensure_pending(request)
    request.resolved_by_override = _superuser_override(actor)
    override = {"override": True, "why": "superuser"} if request.resolved_by_override else {}
    return resolve_locked(
        request,
        RequestState(state),
        actor=actor,
        reason=reason,
        now=timezone.now(),
        data={"direct": True, **override},
    )


def _superuser_override(actor: AbstractBaseUser) -> bool:
    """Whether `actor` may resolve directly only because they are a superuser: asked of a
    fresh copy of their account with the flag off, through every permission backend."""
    if not getattr(actor, "is_superuser", False):
        return False
    # `_meta.model`, not `type(actor)`: a session user is a SimpleLazyObject.
    plain = actor._meta.model._default_manager.get(pk=actor.pk)
    plain.is_superuser = False
    return not plain.has_perm("requests_app.resolve_accessrequest")


@retry_on_conflict
@transaction.atomic
def access_request_withdraw(
    *,
    request_id: object,
    actor: AbstractBaseUser,
    reason: str = "",
    if_match: Collection[str] | None = None,
) -> AccessRequest:
    """The requester takes back their own PENDING request."""
    reason = clean_text(reason, field="reason")
    request = request_lock(request_id)
    if request.user_id != actor.pk:
        raise NotAllowed("only the requester may withdraw a request")
    ensure_if_match(request, if_match)
    ensure_pending(request)
    return resolve_locked(
        request,
        RequestState.WITHDRAWN,
        actor=actor,
        reason=reason,
        now=timezone.now(),
    )


EXPIRED_REASON = "not resolved before it expired"


@retry_on_conflict
@transaction.atomic
def access_request_expire(*, request_id: object) -> bool:
    """Expire one PENDING request past its TTL; False when there is nothing to do."""
    request = request_lock(request_id)
    now = timezone.now()
    if not request.is_pending or request.is_pending_at(now):  # not pending, or not yet due
        return False
    resolve_locked(request, RequestState.EXPIRED, actor=None, reason=EXPIRED_REASON, now=now)
    return True


# What the audit event and the notification say (`request_payload_of`); not the policy
# snapshot. The user's name is read in the same statement.
_NOTIFIED_FIELDS = (
    "expires", "id", "roles", "resources", "reason", "access_starts", "access_expires",
)  # fmt: skip


@retry_on_conflict
@transaction.atomic
def _expire_batch(*, due_by: datetime, size: int) -> int:
    """Expire up to `size` due requests in one transaction, as `access_request_expire` does
    one: same state change, one audit event and one notification per request.

    One statement picks, locks and moves the batch (`requests_transition_claim`). A row
    another transaction holds (a review in flight) is waited for, as the single expiry
    does, then re-checked; rows are locked in one order (expires, id), so two sweeps never
    deadlock.
    """
    now = timezone.now()
    expired = RequestState.EXPIRED
    due = requests_transition_claim(
        AccessRequest.objects.filter(expires__lte=min(due_by, now)).order_by("expires", "pk"),
        source=RequestState.PENDING,
        target=expired,
        now=now,
        limit=size,
        returning=(*_NOTIFIED_FIELDS, f"user__{get_user_model().USERNAME_FIELD}"),
        resolved_at=now,
        resolved_by=None,
        resolve_reason=EXPIRED_REASON,
    )
    if not due:
        return 0
    due.sort()  # RETURNING has no order: written in the lock order, (expires, id)
    outbox_enqueue_many(
        [
            outbox_notice(
                event=RESOLUTION_ACTIONS[expired],
                request_id=pk,
                recipients=[username],
                payload={
                    **request_payload_of(
                        id=pk, username=username, roles=roles, resources=resources,
                        state=expired, reason=reason, access_starts=starts,
                        access_expires=ends,
                    ),
                    "resolve_reason": EXPIRED_REASON,
                },
            )
            for _, pk, roles, resources, reason, starts, ends, username in due
        ]
    )  # fmt: skip
    audit_record_many(  # last: it takes the chain head
        [
            AuditEntry(
                action=RESOLUTION_ACTIONS[expired],
                target_type="access_request",
                target_id=str(pk),
                data={"reason": EXPIRED_REASON, "access_starts": starts, "access_expires": ends},
            )
            for _, pk, _, _, _, starts, ends, _ in due
        ]
    )
    return len(due)


def access_requests_expire_due(
    *, now: datetime | None = None, limit: int = 5000, batch_size: int = 1000
) -> int:
    """Expire PENDING requests past their TTL (at most `limit`; call again until 0).

    Batches of `batch_size`, each one transaction: a failure loses at most one batch's
    work, never writes half of it.
    """
    now = now or timezone.now()
    done = 0
    while done < limit:
        expired = _expire_batch(due_by=now, size=min(batch_size, limit - done))
        if not expired:
            break
        done += expired
    return done
