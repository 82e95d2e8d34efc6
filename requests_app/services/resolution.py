"""Ending a PENDING request: approved or denied (by reviews or directly), withdrawn by its
requester, or expired at its pending TTL. Each is one transaction under the request lock.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from requests_app.choices import RequestState
from requests_app.errors import NotAllowed, SelfReviewRefused, ValidationFailed
from requests_app.models import AccessRequest
from requests_app.services.audit import audit_record
from requests_app.services.grants import grants_create_for
from requests_app.services.jobs import request_schedule_access
from requests_app.services.locking import ensure_pending, request_lock, retry_on_conflict
from requests_app.services.outbox import outbox_enqueue, request_payload
from requests_app.services.text import clean_text

_EVENTS = {
    RequestState.APPROVED: "request.approved",
    RequestState.DENIED: "request.denied",
    RequestState.WITHDRAWN: "request.withdrawn",
    RequestState.EXPIRED: "request.expired",
}


def resolve_locked(
    request: AccessRequest,
    state: RequestState,
    *,
    actor: AbstractBaseUser | None,
    reason: str,
    now: datetime,
    data: dict | None = None,
) -> AccessRequest:
    """Move a locked PENDING request to `state`, open its grants if approved, audit, notify."""
    request.state = state
    request.resolved_at, request.resolved_by, request.resolve_reason = now, actor, reason
    if state == RequestState.APPROVED:
        grants_create_for(request, now)
    request.save(
        update_fields=[
            "state",
            "resolved_at",
            "resolved_by",
            "resolve_reason",
            "access_starts",
            "access_expires",
            "updated",
        ]
    )
    audit_record(
        action=_EVENTS[state],
        target_type="access_request",
        target_id=str(request.id),
        actor=actor,
        data={
            "reason": reason,
            "access_starts": request.access_starts,
            "access_expires": request.access_expires,
            **(data or {}),
        },
    )
    if state != RequestState.WITHDRAWN:
        outbox_enqueue(
            event=_EVENTS[state],
            request_id=request.id,
            recipients=[request.user.get_username()],
            payload={**request_payload(request), "resolve_reason": reason},
        )
    if state == RequestState.APPROVED:
        request_schedule_access(request)
    return request


@retry_on_conflict
@transaction.atomic
def access_request_resolve(
    *, request_id: object, actor: AbstractBaseUser, state: str, reason: str
) -> AccessRequest:
    """Approve or deny directly, bypassing thresholds.

    Caller must hold `requests_app.resolve_accessrequest` and may never resolve their own
    request, superusers included (dual authorization). A reason is required.
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
        raise ValidationFailed("a reason is required to resolve a request", field="reason")
    ensure_pending(request)
    return resolve_locked(
        request,
        RequestState(state),
        actor=actor,
        reason=reason,
        now=timezone.now(),
        data={"direct": True},
    )


@retry_on_conflict
@transaction.atomic
def access_request_withdraw(
    *, request_id: object, actor: AbstractBaseUser, reason: str = ""
) -> AccessRequest:
    """The requester takes back their own PENDING request."""
    reason = clean_text(reason, field="reason")
    request = request_lock(request_id)
    if request.user_id != actor.pk:
        raise NotAllowed("only the requester may withdraw a request")
    ensure_pending(request)
    return resolve_locked(
        request,
        RequestState.WITHDRAWN,
        actor=actor,
        reason=reason,
        now=timezone.now(),
    )


@retry_on_conflict
@transaction.atomic
def access_request_expire(*, request_id: object) -> bool:
    """Expire one PENDING request past its TTL; False when there is nothing to do."""
    request = request_lock(request_id)
    now = timezone.now()
    if not request.is_pending or request.expires > now:
        return False
    resolve_locked(
        request,
        RequestState.EXPIRED,
        actor=None,
        reason="not resolved before it expired",
        now=now,
    )
    return True


def access_requests_expire_due(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Expire every PENDING request past its TTL, each in its own transaction."""
    now = now or timezone.now()
    due = AccessRequest.objects.filter(state=RequestState.PENDING, expires__lte=now).order_by(
        "expires"
    )
    return sum(
        access_request_expire(request_id=pk) for pk in due.values_list("pk", flat=True)[:limit]
    )
