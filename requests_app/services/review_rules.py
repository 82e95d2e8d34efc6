"""Review rules applied to new requests (README "Review rules").

After a request's creation commits, a job (`requests_app.tasks.apply_review_rules`, with
`apply_due_review_rules` as the sweep for lost messages) evaluates every rule once:
outside any transaction, since `oncall()` may ask PagerDuty or Opsgenie over HTTP. Then one
transaction locks the request, records that the rules were applied (`ReviewRuleCheck`, so
the job and the sweep never apply them twice) and writes the chosen rule's review through
`review_submit`, as the review-rule identity: thresholds, resolution, audit and
notifications apply unchanged. A rule that does not fire leaves the request pending.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import audit_record
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.errors import DomainError
from accessportal.kernel.locking import retry_on_conflict
from policies_app.models import OncallSchedule, ReviewRule
from policies_app.review_rules import (
    Requester,
    RuleOutcome,
    review_rules_decide,
    review_rules_evaluate,
)
from policies_app.selectors import oncall_email, standing_role_names, user_traits
from requests_app.models import AccessRequest, ReviewRuleCheck
from requests_app.selectors import request_context
from requests_app.services.eligibility import request_items_refusal
from requests_app.services.locking import request_lock
from requests_app.services.reviews import review_submit
from requests_app.services.rule_reviewer import (
    RuleReview,
    RuleReviewerUnavailable,
    rule_reviewer,
)

logger = logging.getLogger(__name__)

SWEEP_LOOKBACK = timedelta(days=1)
PREVIEW_DAYS = 7
PREVIEW_LIMIT = 200


def stored_rules() -> tuple[list[tuple[str, dict]], dict[str, dict]]:
    """(review rules as (name, spec), on-call schedules by name), as stored."""
    rules = list(ReviewRule.objects.order_by("name").values_list("name", "spec"))
    schedules = dict(OncallSchedule.objects.values_list("name", "spec"))
    return rules, schedules


def request_variables(request: AccessRequest) -> dict:
    """The `request.*` variables of a review rule's `when`."""
    return {
        **request_context(request),
        "user": request.user.get_username(),
        "resources": list(request.resources),
    }


def requester_of(request: AccessRequest) -> Requester:
    user = request.user
    return Requester(
        username=user.get_username(),
        email=oncall_email(user),
        roles=standing_role_names(user),
        traits=user_traits(user),
    )


def _outcomes(
    request: AccessRequest, rules: list[tuple[str, dict]], schedules: dict[str, dict], at: datetime
) -> list[RuleOutcome]:
    return review_rules_evaluate(
        rules,
        request=request_variables(request),
        requester=requester_of(request),
        at=at,
        schedules=schedules,
        starts=request.assume_start_time,
    )


def review_rules_apply(*, request_id: object) -> str:
    """Apply the review rules to one request, once; returns what happened ("no rules",
    "not pending", "already checked", "no rule fired", "reviewed by <rule>: <state>",
    "refused: ..."). Must be called outside a transaction (on-call lookups are HTTP)."""
    rules, schedules = stored_rules()
    request = AccessRequest.objects.select_related("user").filter(pk=request_id).first()
    if request is None or request.state != RequestState.PENDING:
        return "not pending"
    if ReviewRuleCheck.objects.filter(request_id=request.pk).exists():
        return "already checked"
    now = timezone.now()
    if not rules:
        return _record_no_rules(request.pk, now)
    return _record(request.pk, _outcomes(request, rules, schedules, now), now)


@transaction.atomic
def _record_no_rules(request_id: object, now: datetime) -> str:
    """No rule is stored, so nothing can review the request: record that it was checked,
    so a rule added later does not sweep it. Bookkeeping only (no state change, no audit
    event, no lock: a second writer's insert is simply ignored)."""
    ReviewRuleCheck.objects.get_or_create(
        request_id=request_id, defaults={"checked_at": now, "outcome": "no rules"}
    )
    return "no rules"


@retry_on_conflict
@transaction.atomic
def _record(request_id: object, outcomes: list[RuleOutcome], now: datetime) -> str:
    """Lock the request, record the check, and write the chosen rule's review."""
    chosen = review_rules_decide(outcomes)
    reviewer = None
    refusal = ""
    if chosen is not None:
        try:
            reviewer = rule_reviewer()  # before the lock: it may create the account
        except RuleReviewerUnavailable as err:
            logger.error("review rule %s did not review: %s", chosen.rule, err)
            refusal = str(err)
    request = request_lock(request_id)
    if ReviewRuleCheck.objects.filter(request_id=request.pk).exists():
        return "already checked"
    inputs = {o.rule: {"fired": o.fired, **o.inputs} for o in outcomes}
    failing = sorted({name for o in outcomes for name in o.failures})
    if failing:
        inputs["unavailable_schedules"] = failing
    check = ReviewRuleCheck(request=request, checked_at=now, inputs=inputs)
    if not request.is_pending_at(now):
        check.outcome = "not pending"
        check.save(force_insert=True)
        return check.outcome
    if chosen is None:
        check.outcome = "no rule fired"
        if skipped := [o for o in outcomes if o.not_applicable]:
            check.outcome = f"not applicable: {skipped[0].not_applicable}"[:200]
        check.save(force_insert=True)
        for outcome in skipped:  # the rule's condition held, but it does not judge this
            _audit_refused(request, outcome, outcome.not_applicable, actor=None)
        return check.outcome
    check.rule = chosen.rule
    check.outcome = f"reviewed by {chosen.rule}: {chosen.state}"
    check.save(force_insert=True)
    if reviewer is not None:
        try:
            with transaction.atomic():  # a refusal rolls back the review, not the check
                review_submit(
                    request_id=request.pk,
                    reviewer=reviewer,
                    state=chosen.state,
                    reason=chosen.reason,
                    rule=RuleReview(chosen.rule, chosen.inputs),
                )
            return check.outcome
        except DomainError as err:
            refusal = str(err)
    check.outcome = f"refused: {refusal}"[:200]
    check.save(update_fields=["outcome"])
    logger.info(
        "review rule %s fired for %s but did not review: %s", chosen.rule, request.pk, refusal
    )
    _audit_refused(request, chosen, refusal, actor=reviewer)
    return check.outcome


def _audit_refused(request: AccessRequest, outcome: RuleOutcome, refusal: str, *, actor) -> None:
    """`review_rule.refused`: a rule whose condition held did not review `request`, and why."""
    audit_record(
        action=AuditAction.REVIEW_RULE_REFUSED,
        target_type="access_request",
        target_id=str(request.pk),
        actor=actor,
        data={
            "rule": outcome.rule,
            "state": outcome.state,
            "inputs": outcome.inputs,
            "refusal": refusal,
        },
    )


def review_rules_due(*, limit: int = 100) -> int:
    """The sweep: apply the rules to pending requests older than REVIEW_RULES_SWEEP_GRACE
    (and younger than a day) that were never checked, their job's message lost."""
    if not ReviewRule.objects.exists():
        return 0
    now = timezone.now()
    ids = list(
        AccessRequest.objects.filter(
            state=RequestState.PENDING,
            expires__gt=now,
            created__lte=now - timedelta(seconds=settings.REVIEW_RULES_SWEEP_GRACE),
            created__gte=now - SWEEP_LOOKBACK,
            review_rule_check__isnull=True,
        )
        .order_by("created")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        review_rules_apply(request_id=pk)
    return len(ids)


def review_rules_preview(
    *, rules: list[dict], schedules: list[dict], now: datetime | None = None
) -> list[str]:
    """For `apply_policies --dry-run`: which requests of the last PREVIEW_DAYS days each new
    or changed rule of `rules` (normalized documents) would have reviewed, and how, as of
    their creation (on-call sources asked about that moment; the requester's roles as now).
    """
    stored_specs = dict(ReviewRule.objects.values_list("name", "spec"))
    changed = [r for r in rules if stored_specs.get(r["name"]) != r["spec"]]
    if not changed:
        return []
    now = now or timezone.now()
    all_schedules = dict(OncallSchedule.objects.values_list("name", "spec"))
    all_schedules.update({s["name"]: s["spec"] for s in schedules})
    recent = list(
        AccessRequest.objects.select_related("user")
        .filter(created__gte=now - timedelta(days=PREVIEW_DAYS))
        .order_by("-created")[:PREVIEW_LIMIT]
    )
    lines: list[str] = []
    for doc in changed:
        decided, left = [], []
        for request in recent:
            (outcome,) = _outcomes(
                request, [(doc["name"], doc["spec"])], all_schedules, request.created
            )
            if outcome.not_applicable:
                left.append(
                    f"  {str(request.pk)[:8]} {request.user.get_username()} "
                    f"{', '.join([*request.roles, *request.resources])}: not reviewed, "
                    f"{outcome.not_applicable}"
                )
                continue
            if not outcome.fired:
                continue
            note = ""
            if outcome.state == "APPROVED" and (refusal := request_items_refusal(request)):
                note = f" (would be refused: {refusal})"
            if outcome.failures:
                note += f" (on-call source unavailable: {', '.join(outcome.failures)})"
            decided.append(
                f"  {str(request.pk)[:8]} {request.user.get_username()} "
                f"{', '.join([*request.roles, *request.resources])} "
                f"{request.created:%Y-%m-%d %H:%M} UTC, now {request.state}: "
                f"{outcome.state}{note}"
            )
        lines.append(
            f"review_rule {doc['name']} would have reviewed {len(decided)} of {len(recent)} "
            f"request(s) from the last {PREVIEW_DAYS} days"
        )
        lines += decided + left
    return lines


def on_review_rules_preview(
    sender, rules: list[dict], schedules: list[dict], **kwargs
) -> list[str]:
    """Receiver of `policies_app.signals.review_rules_preview` (apply_policies --dry-run)."""
    return review_rules_preview(rules=rules, schedules=schedules)
