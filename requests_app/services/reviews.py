"""Reviews: one reviewer's verdict, counted toward the request's thresholds.

`review_refusal` holds the rules of who may review what and when (the admin desk asks it
too); `request_get_for_review` is the single entry point that locks a request and checks
them; every write that reviews calls it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accessportal.kernel.audit import AuditEntry, audit_record_many
from accessportal.kernel.choices import AuditAction, RequestState, ReviewState
from accessportal.kernel.errors import (
    AlreadyReviewed,
    DomainError,
    NotAllowed,
    NotPending,
    ReasonRequired,
    SelfReviewRefused,
    ValidationFailed,
)
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from policies_app.engine import PolicySet, Subject
from policies_app.selectors import policies_and_subject, subject_for
from requests_app.models import AccessRequest, Review
from requests_app.selectors import may_review, request_context
from requests_app.services.access_requests import validate_start_time
from requests_app.services.eligibility import request_items_refusal
from requests_app.services.locking import ensure_pending, request_lock
from requests_app.services.preconditions import ensure_if_match
from requests_app.services.resolution import resolve_locked
from requests_app.services.rule_reviewer import RuleReview, is_rule_reviewer
from requests_app.services.text import clean_text
from requests_app.services.thresholds import matching_thresholds, tally
from requests_app.services.visibility import reviewer_keeps_view


def review_reason_required(request: AccessRequest) -> bool:
    """Whether a review of `request` needs a reason: when the policy snapshot required one of
    the requester (decided at creation, so a later policy edit does not change it). The one
    rule `review_submit` enforces; forms read it to mark the field."""
    return bool((request.policy or {}).get("reason_required"))


def _check_review_reason(request: AccessRequest, reason: str) -> None:
    if reason or not review_reason_required(request):
        return
    # The policy's prompt is addressed to the requester, not to reviewers: not repeated here.
    raise ReasonRequired(
        "a reason is required to review this request (its policy requires a reason)",
        field="reason",
    )


def reviewer_refusal(
    request: AccessRequest, reviewer: AbstractBaseUser, *, subject: Subject | None = None
) -> NotAllowed | None:
    """Why `reviewer` is not someone who may judge `request` at all, whatever its state:
    their own request (SelfReviewRefused, superusers included) or standing roles that do not
    allow reviewing it (`may_review`, NotAllowed). `review_refusal`'s first two checks, and
    the whole rule for who may ratify a break-glass use. The review-rule identity is never
    such a person."""
    if request.user_id == reviewer.pk:
        return SelfReviewRefused("nobody may review their own request")
    # The review-rule identity judges only through a rule (review_refusal's `rule`): never
    # as a person, so never by roles and never a break-glass ratification.
    if is_rule_reviewer(reviewer):
        return NotAllowed("your roles do not allow you to review this request")
    if subject is None:
        subject = subject_for(reviewer, PolicySet.load())
    if not may_review(request, reviewer, subject):
        return NotAllowed("your roles do not allow you to review this request")
    return None


def review_refusal(
    request: AccessRequest,
    reviewer: AbstractBaseUser,
    *,
    subject: Subject | None = None,
    reviews: Iterable[Review] | None = None,
    rule: RuleReview | None = None,
) -> DomainError | None:
    """Why `reviewer` may not review `request` now, as the error `review_submit` raises;
    None when they may. The one place these rules live, checked in this order: their own
    request (SelfReviewRefused, superusers included), their standing roles (`may_review`,
    NotAllowed), still pending and within its pending time (`ensure_pending`, NotPending),
    and one review per reviewer (AlreadyReviewed).

    Only reads: `review_submit` asks it under the request lock; the admin desk asks it to
    say up front why a request cannot be reviewed. `subject`: the reviewer's, when the
    caller evaluates many requests; `reviews`: the request's reviews when already fetched.
    `rule`: a review rule fired (requests_app.services.review_rules); then the reviewer
    must be the review-rule identity, which reviews by that instead of standing roles, and
    which never reviews without one.
    """
    if rule is not None:
        if request.user_id == reviewer.pk:
            return SelfReviewRefused("nobody may review their own request")
        if not is_rule_reviewer(reviewer):
            return NotAllowed("only the review-rule identity reviews by a rule")
    elif (refusal := reviewer_refusal(request, reviewer, subject=subject)) is not None:
        return refusal
    try:
        ensure_pending(request)
    except NotPending as err:
        return err
    reviews = request.reviews.all() if reviews is None else reviews
    if any(r.reviewer_id == reviewer.pk for r in reviews):
        return AlreadyReviewed("you have already reviewed this request")
    return None


class ReviewTarget(NamedTuple):
    request: AccessRequest
    subject: Subject
    reviews: list[Review]
    refusal: DomainError | None  # NotPending or AlreadyReviewed, raised by the caller


def request_get_for_review(
    *, request_id: object, reviewer: AbstractBaseUser, rule: RuleReview | None = None
) -> ReviewTarget:
    """Lock the request and its reviews and check that `reviewer` may review it.

    Contract: returns only if the reviewer is not the requester (superusers included) and
    their standing roles allow reviewing every requested item, with no deny rule matching
    (`review_refusal`'s first two checks, raised here). Its later refusals (no longer
    pending, already reviewed) come back in `refusal`, for the caller to raise after its
    own input checks (If-Match, reason), so that the API's order of errors stays put.
    Caller must be inside a transaction.
    """
    request = request_lock(request_id)
    policies, subject = policies_and_subject(reviewer)
    reviews = list(request.reviews.select_for_update().order_by("created", "id"))
    refusal = review_refusal(request, reviewer, subject=subject, reviews=reviews, rule=rule)
    if isinstance(refusal, NotAllowed):  # SelfReviewRefused is one
        raise refusal
    return ReviewTarget(request, subject, reviews, refusal)


@retry_on_conflict
@transaction.atomic
def review_submit(
    *,
    request_id: object,
    reviewer: AbstractBaseUser,
    state: str,
    reason: str = "",
    assume_start_time: datetime | None = None,
    if_match: Collection[str] | None = None,
    rule: RuleReview | None = None,
) -> AccessRequest:
    """Record a review and resolve the request when a threshold is reached.

    Refused: self-review, reviewers outside policy, a request no longer PENDING, a missing
    reason where the request's snapshot requires one (`review_reason_required`), and a second
    review by the same person (also a database constraint). A review by a `rule` (the
    review-rule identity) never approves what the requester could not request now.
    """
    if state not in (ReviewState.APPROVED, ReviewState.DENIED):
        raise ValidationFailed("state must be APPROVED or DENIED", field="state")
    reason = clean_text(reason, field="reason")
    request, subject, reviews, refusal = request_get_for_review(
        request_id=request_id, reviewer=reviewer, rule=rule
    )
    ensure_if_match(request, if_match)
    if isinstance(refusal, NotPending):
        raise refusal
    _check_review_reason(request, reason)
    now = timezone.now()
    start = validate_start_time(assume_start_time, now, "assume_start_time")
    if refusal is not None:  # AlreadyReviewed
        raise refusal
    approving_rule = rule is not None and state == ReviewState.APPROVED
    if approving_rule and (ineligible := request_items_refusal(request)):
        raise NotAllowed(f"the review rule {rule.name!r} may not approve: {ineligible}")
    ctx = {
        **subject.review_context(request_context(request)),
        "review": {"reason": reason},
    }
    ctx["reviewer"]["kind"] = "rule" if rule is not None else "human"
    review = Review(
        request=request,
        reviewer=reviewer,
        state=state,
        reason=reason,
        assume_start_time=start,
        threshold_indexes=matching_thresholds(request.policy.get("thresholds", []), ctx),
        created=now,
    )
    # No savepoint: under the request lock a second review by the same reviewer cannot
    # race this one, and if the constraint fires anyway the error leaves this function's
    # own atomic block, which rolls back (to its savepoint when the caller's transaction
    # goes on).
    try:
        review.save(force_insert=True)
    except IntegrityError:
        raise AlreadyReviewed("you have already reviewed this request") from None
    reviewer_keeps_view(request, reviewer)  # before the audit append (the head last)
    if start and state == ReviewState.APPROVED:
        request.assume_start_time = start
        request.save(update_fields=["assume_start_time", "updated"])
    audit = [
        AuditEntry(
            action=AuditAction.REVIEW_SUBMITTED,
            target_type="access_request",
            target_id=str(request.id),
            actor=reviewer,
            data={
                "state": state,
                "reason": reason,
                "thresholds": review.threshold_indexes,
                **({"rule": rule.name, "inputs": rule.inputs} if rule is not None else {}),
            },
        )
    ]
    observe.review_submitted(
        f"rule:{rule.name}"
        if rule is not None
        else subject.reviewing_role(
            request.policy.get("review_roles", {}), request_context(request)
        ),
        state,
    )
    outcome = tally(request.policy, [*reviews, review])
    if outcome is not None:
        resolve_locked(
            request,
            RequestState(outcome),
            actor=reviewer,
            reason=reason,
            now=now,
            data={"by_review": True},
            audit=audit,
        )
    audit_record_many(audit)  # the review, then the resolution it decided: the head last
    return request
