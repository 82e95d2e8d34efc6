"""Break-glass access: emergency access approved at once by its requester, ratified after.

Where every requested item's request policy says `break_glass: {ratify_within, notify}`,
`break_glass_open` creates the request and approves it in the same transaction on the
requester's own authority (the one place self-approval exists), with its access capped at
the ratification deadline. The eligible reviewers of the request (`reviewer_refusal`: the
rule of who may review it, never the requester) then ratify it, which restores the approved
window, or reject it, which revokes it at once and flags the requester (`break_glass_decide`).
Unratified, the access simply ends at the deadline: grants end there, and every access
check compares the window with the clock, so no worker is needed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.errors import (
    BreakGlassNotAllowed,
    BreakGlassUnratified,
    NotAwaitingRatification,
    ReasonRequired,
    Unprocessable,
    ValidationFailed,
)
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest, Grant
from requests_app.services.access_requests import _ItemRules, _plan, _unsaved_request, _write
from requests_app.services.eligibility import request_items_refusal
from requests_app.services.grants import revoke_with_continuations
from requests_app.services.jobs import request_schedule_access
from requests_app.services.locking import request_lock
from requests_app.services.outbox import outbox_enqueue, request_payload
from requests_app.services.preconditions import ensure_if_match
from requests_app.services.resolution import resolve_locked
from requests_app.services.reviews import reviewer_refusal
from requests_app.services.text import clean_text
from requests_app.services.visibility import request_review_rows_end

RATIFY = "ratify"
REJECT = "reject"
VERDICTS = (RATIFY, REJECT)
PAST = {RATIFY: "ratified", REJECT: "rejected"}  # how surfaces report a verdict


def break_glass_policy(items: _ItemRules) -> dict:
    """The break-glass rule of a request for `items` (`catalog.request_rule` per item, what
    the portal's form shows): the shortest `ratify_within` and every `notify` name. Raises
    BreakGlassNotAllowed naming the items break glass does not reach: every item must be a
    role, and every rule of the requester's that allows requesting it must allow
    break-glass (one role's break-glass never skips another role's thresholds)."""
    rules = items.item_rules
    refused = [item.split(":", 1)[1] for item, r in rules.items() if r.break_glass_within is None]
    if refused:
        raise BreakGlassNotAllowed(
            f"break-glass is not allowed for {', '.join(refused)}: break-glass reaches roles "
            f"only, and only where every role of yours that allows requesting it allows "
            f"break-glass (ask for it with an ordinary request)",
            field="break_glass",
        )
    return {
        "ratify_within": min(r.break_glass_within for r in rules.values()),
        "notify": list(dict.fromkeys(n for r in rules.values() for n in r.break_glass_notify)),
    }


def break_glass_snapshot(request: AccessRequest) -> dict:
    """The break-glass rule the request was opened under (`ratify_within` seconds, `notify`
    names), snapshotted at creation (invariant 8): what the verdict and its notifications
    read, whatever the policy says now."""
    return request.policy["break_glass"]


def break_glass_awaiting(request: AccessRequest) -> BreakGlass | None:
    """The request's break-glass use when it still awaits ratification, else None."""
    return BreakGlass.objects.filter(request=request, state=Ratification.AWAITING).first()


def _unratified(user_id: object) -> BreakGlass | None:
    return BreakGlass.objects.filter(user_id=user_id, state=Ratification.AWAITING).first()


def _refuse_second(found: BreakGlass) -> BreakGlassUnratified:
    return BreakGlassUnratified(
        f"your break-glass access {found.request_id} is still awaiting ratification: a "
        f"reviewer must ratify or reject it before you may break glass again"
    )


def _glass_payload(request: AccessRequest, glass: BreakGlass) -> dict:
    return {
        **request_payload(request),
        "break_glass": True,
        "ratify_by": glass.deadline.isoformat(),
        "window_expires": glass.window_expires.isoformat(),
        "notify_rules": list(break_glass_snapshot(request)["notify"]),
    }


@retry_on_conflict
@transaction.atomic
def break_glass_open(
    *,
    requester: AbstractBaseUser,
    roles: Sequence[str] | None = None,
    resources: Sequence[str] | None = None,
    reason: str = "",
    max_duration: object = None,
    suggested_reviewers: Iterable[str] | None = None,
    assume_start_time: object = None,
) -> AccessRequest:
    """Create a request and approve it now on the requester's own authority, with access
    capped at the ratification deadline; notify the policy's `notify` names and the
    eligible reviewers; audit each step.

    Refused: an item whose policy does not allow break-glass (BreakGlassNotAllowed, 403), a
    missing reason (ReasonRequired), a later start (break-glass is for now), and a requester
    with a break-glass use still awaiting ratification (BreakGlassUnratified, 409; also a
    database constraint, for two at once). Everything else is `access_request_create`'s.
    """
    if assume_start_time not in (None, ""):
        raise Unprocessable(
            "break-glass access starts now: assume_start_time is not allowed",
            field="assume_start_time",
        )
    plan = _plan(
        requester, roles, resources, reason, max_duration, None, None, suggested_reviewers, None
    )
    policy = break_glass_policy(plan.items)
    if not plan.reason:
        raise ReasonRequired("break-glass access needs a reason", field="reason")
    if (found := _unratified(requester.pk)) is not None:
        raise _refuse_second(found)
    request = _unsaved_request(plan)
    request.policy = {**request.policy, "break_glass": policy}  # snapshotted (invariant 8)
    _write(request, plan.policies, notify=False)  # reviewers hear of it as break_glass.opened
    now = plan.now
    deadline = now + timedelta(seconds=policy["ratify_within"])
    resolve_locked(
        request,
        RequestState.APPROVED,
        actor=requester,
        reason=request.reason,
        now=now,
        data={"break_glass": True, "self_approved": True, "ratify_by": deadline},
        access_ends_by=deadline,
    )
    glass = BreakGlass(
        request=request,
        user=requester,
        created=now,
        deadline=deadline,
        window_expires=request.access_starts + timedelta(seconds=request.max_duration),
        notify=policy["notify"],
    )
    try:
        with transaction.atomic():
            glass.save(force_insert=True)
    except IntegrityError:  # another break-glass of this user committed meanwhile
        raise _refuse_second(_unratified(requester.pk) or glass) from None
    outbox_enqueue(
        event="break_glass.opened",
        request_id=request.id,
        # The eligible reviewers are added when the message is routed (REVIEWERS_TOLD);
        # `notify` names users to email and notification rules whose channels it reaches.
        recipients=[*request.suggested_reviewers, *policy["notify"]],
        payload=_glass_payload(request, glass),
    )
    audit_record_many(
        [
            AuditEntry(
                action=AuditAction.BREAK_GLASS_OPENED,
                target_type="access_request",
                target_id=str(request.id),
                actor=requester,
                data={
                    "ratify_by": deadline,
                    "window_expires": glass.window_expires,
                    "access_expires": request.access_expires,
                    "notify": policy["notify"],
                },
            )
        ]
    )
    observe.break_glass("used")
    return request


def break_glass_lock(*, request_id: object) -> tuple[AccessRequest, BreakGlass]:
    """The request and its break-glass row, locked in that order; NotAwaitingRatification
    when the request is not a break-glass use."""
    request = request_lock(request_id)
    glass = BreakGlass.objects.select_for_update().filter(request=request).first()
    if glass is None:
        raise NotAwaitingRatification("this request is not a break-glass use")
    return request, glass


def ratification_refusal(request: AccessRequest, glass: BreakGlass, user: AbstractBaseUser):
    """Why `user` may not ratify or reject this break-glass use now (the error
    `break_glass_decide` raises), or None. Who: `reviewer_refusal` (never the requester;
    standing roles that may review the request). When: still awaiting ratification."""
    if (refusal := reviewer_refusal(request, user)) is not None:
        return refusal
    if glass.state != Ratification.AWAITING:
        return NotAwaitingRatification(f"this break-glass use was already {glass.state.lower()}")
    return None


@retry_on_conflict
@transaction.atomic
def break_glass_decide(
    *,
    request_id: object,
    reviewer: AbstractBaseUser,
    verdict: str,
    reason: str,
    if_match: Collection[str] | None = None,
) -> BreakGlass:
    """Ratify or reject a break-glass use; a reason is required.

    Caller must be an eligible reviewer of the request (never its requester); `if_match`
    (tags from an `If-Match` header) must name the request's current version. The deadline
    and the `notify` names are the request's snapshot (`break_glass_snapshot`), not today's
    policy. Ratified before the deadline: the requester must still be allowed to request
    every item (`request_items_refusal`, else Unprocessable: reject it instead); its grants
    and the request's access are extended to the approved window, and the end's jobs are
    scheduled again (the ending-soon warning is due again before the new end). Rejected:
    whatever access it or its extensions still give is revoked at once and pending
    extensions are closed (the revoke service, even after the deadline), and the requester
    is flagged (the row stays REJECTED). After the deadline a verdict is still recorded (the
    access already ended and is not restored), so a use that timed out stops blocking its
    requester only once someone has judged it.
    """
    if verdict not in VERDICTS:
        raise ValidationFailed("verdict must be ratify or reject", field="verdict")
    reason = clean_text(reason, field="reason")
    request, glass = break_glass_lock(request_id=request_id)
    ensure_if_match(request, if_match)
    if (refusal := ratification_refusal(request, glass, reviewer)) is not None:
        raise refusal
    if not reason:
        raise ReasonRequired(
            f"a reason is required to {verdict} break-glass access", field="reason"
        )
    snapshot = break_glass_snapshot(request)
    ratify_by = glass.created + timedelta(seconds=snapshot["ratify_within"])
    now = timezone.now()
    late = ratify_by <= now
    audit: list[AuditEntry] = []
    data: dict = {"reason": reason, "late": late, "ratify_by": ratify_by}
    revoked = False
    if verdict == RATIFY:
        if not late and request.state == RequestState.APPROVED:
            if ineligible := request_items_refusal(request):
                # No field: no input is wrong, and the portal shows it atop the form.
                raise Unprocessable(
                    f"this break-glass access cannot be ratified: {ineligible} (reject it instead)"
                )
            # The UPDATE locks the grants after the request, before the audit head: the lock
            # order of every writer. A grant the end sweep already recorded ended is left.
            # Its ending-soon warning is due again before the new end.
            Grant.objects.filter(request=request, revoked_at=None, ended_at=None).update(
                expires=glass.window_expires, warned_at=None
            )
            request.access_expires = glass.window_expires
            request.save(update_fields=["access_expires", "updated"])
            request_schedule_access(request)  # warn before the new end, record it, as extend
            data["access_expires"] = glass.window_expires
        glass.state, action = Ratification.RATIFIED, AuditAction.BREAK_GLASS_RATIFIED
    else:
        # Before anything else is written: the lock order request -> extensions -> grants.
        # Extensions carry access on past the deadline, so they are ended even when the
        # use's own access already ended (a late verdict).
        live = request.state == RequestState.APPROVED and request.is_access_live_at(now)
        audit += revoke_with_continuations(
            request,
            actor=reviewer,
            reason=reason,
            now=now,
            data={"break_glass": "rejected"},
            revoke_original=live,
        )
        revoked = live or any(e.action == AuditAction.REQUEST_REVOKED for e in audit)
        data["revoked"] = revoked
        glass.state, action = Ratification.REJECTED, AuditAction.BREAK_GLASS_REJECTED
    glass.decided_at, glass.decided_by, glass.decision_reason = now, reviewer, reason
    glass.save(update_fields=["state", "decided_at", "decided_by", "decision_reason"])
    request_review_rows_end([request.pk], verdict=True)  # nobody may act on it any more
    request.save(update_fields=["updated"])  # a new version (ETag) for what it shows
    rejected = glass.state == Ratification.REJECTED
    outbox_enqueue(
        event=f"break_glass.{'rejected' if rejected else 'ratified'}",
        request_id=request.id,
        recipients=[request.user.get_username(), *(snapshot["notify"] if rejected else [])],
        payload={
            **_glass_payload(request, glass),
            "decision_reason": reason,
            "decided_by": reviewer.get_username(),
            "late": late,
            # A rejection: when the access ended (now, or already at the deadline).
            **(
                {
                    "revoked_at": now.isoformat() if revoked else None,
                    "access_expires": (
                        now if revoked else min(request.revoked_at or ratify_by, now)
                    ).isoformat(),
                }
                if rejected
                else {}
            ),
            **({} if rejected else {"notify_rules": []}),
        },
    )
    audit.append(
        AuditEntry(
            action=action,
            target_type="access_request",
            target_id=str(request.id),
            actor=reviewer,
            data=data,
        )
    )
    audit_record_many(audit)  # last: it takes the chain head
    outcome = "rejected" if rejected else "ratified"
    observe.break_glass(f"{outcome}_late" if late else outcome)
    return glass
