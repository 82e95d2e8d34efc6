"""Access review runs: start, decide, remind, close (README "Access reviews").

Every write is one transaction with its audit event; a decision locks its item row and is
made once (409 after); the deadline sweep locks each run (skip_locked: two workers share the
work, never repeat it). A removal goes through `policies_app.services.memberships
.membership_remove`: audited, reviewer profiles and provisioning follow, a policy-file
membership held away from the next `apply_policies` (drift).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accessportal.kernel.audit import audit_record
from accessportal.kernel.errors import (
    Conflict,
    NotAllowed,
    NotFound,
    ReasonRequired,
    SelfReviewRefused,
    ValidationFailed,
)
from accessportal.kernel.locking import retry_on_conflict
from accessportal.kernel.usernames import ACCESS_REVIEWS_USERNAME
from policies_app.documents.access_reviews import schedule_slot
from policies_app.matching import matches_any
from policies_app.models import AccessReview, RoleMembership
from policies_app.services.memberships import membership_remove, returning_sources
from requests_app.models import CampaignItem, CampaignRun
from requests_app.selectors.access_reviews import (
    access_review_reviewers,
    campaign_items_visible_to,
    campaign_run_reviewers_now,
    campaign_runs_reviewed_by,
)
from requests_app.services.outbox import outbox_enqueue
from requests_app.services.text import clean_text

logger = logging.getLogger(__name__)
SYSTEM = ACCESS_REVIEWS_USERNAME  # never a person's user name (kernel.usernames)
STARTED_EVENT = "access_review.started"
REMINDER_EVENT = "access_review.reminder"
MISSED_EVENT = "access_review.missed"


def _label(run: CampaignRun) -> str:
    return f"access review {run.name} (run {run.pk})"


def _tell_reviewers(run: CampaignRun, event: str) -> None:
    """One outbox message to the run's reviewers who have undecided items (not their own)."""
    undecided = set(
        CampaignItem.objects.filter(run=run, outcome="").values_list("user_id", flat=True)
    )
    names = sorted(
        reviewer.get_username()
        for reviewer in campaign_run_reviewers_now(run)
        if undecided - {reviewer.pk}
    )
    if not names:
        return
    outbox_enqueue(
        event=event,
        request_id=None,
        recipients=names,
        payload={
            "access_review": run.name,
            "run": run.pk,
            "deadline": run.deadline.isoformat(),
            "deadline_text": f"{run.deadline:%Y-%m-%d %H:%M}",
            "undecided": len(undecided),
        },
    )


@retry_on_conflict
@transaction.atomic
def campaign_start(
    *,
    review_name: str,
    actor: AbstractBaseUser | None = None,
    scheduled_for: datetime | None = None,
    now: datetime | None = None,
) -> CampaignRun | None:
    """Start a run of the access review `review_name`: one item per standing membership of
    a role in scope, snapshotted now. `actor` None: the schedule (then `scheduled_for` is
    its slot, and a second start for the same slot returns None and writes nothing).
    Caller with an actor must hold `requests_app.start_campaignrun`."""
    now = now or timezone.now()
    if actor is not None and not actor.has_perm("requests_app.start_campaignrun"):
        raise NotAllowed("you may not start access reviews")
    review = AccessReview.objects.filter(name=review_name).first()
    if review is None:
        raise NotFound(f"no access review named {review_name!r}")
    spec = review.spec
    try:
        with transaction.atomic():
            run = CampaignRun.objects.create(
                review=review,
                name=review.name,
                spec=spec,
                scheduled_for=scheduled_for,
                started=now,
                started_by=actor.get_username() if actor else SYSTEM,
                deadline=now + timedelta(seconds=spec["duration"]),
            )
    except IntegrityError:
        return None  # this slot has its run already (another tick, another beat)
    memberships = [
        m
        for m in RoleMembership.objects.select_related("role", "user")
        .filter(user__is_active=True)
        .order_by("role__name", "user_id")
        if matches_any(spec["roles"], m.role.name)
    ]
    items = CampaignItem.objects.bulk_create(
        [
            CampaignItem(run=run, user=m.user, role=m.role.name, sources=sorted(m.sources))
            for m in memberships
        ]
    )
    # Nobody reviews their own membership: the selectors and the decision leave the member out.
    run.reviewers.set(access_review_reviewers(spec).order_by("pk"))
    _tell_reviewers(run, STARTED_EVENT)
    audit_record(
        action="access_review.started",
        target_type="access_review",
        target_id=str(run.pk),
        actor=actor,
        data={
            "name": run.name,
            "items": len(items),
            "reviewers": run.reviewers.count(),
            "deadline": run.deadline.isoformat(),
        },
    )
    return run


def item_get_for_decision(*, item_id: int, reviewer: AbstractBaseUser) -> CampaignItem:
    """The item, locked, if `reviewer` may decide it: one of its reviewers (or a superuser),
    never its member; NotFound when they may not see it. Caller runs in a transaction."""
    item = (
        campaign_items_visible_to(reviewer)
        .select_for_update(of=("self",))
        .select_related("run", "user")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise NotFound("no such review item")
    if item.user_id == reviewer.pk:
        raise SelfReviewRefused("nobody reviews their own membership")
    if not reviewer.is_superuser and item.run_id not in campaign_runs_reviewed_by(reviewer):
        raise NotAllowed("you are not a reviewer of this item")
    if item.outcome:
        raise Conflict(f"this item was already decided ({item.get_outcome_display()})")
    if item.run.state != CampaignRun.State.OPEN or item.run.deadline <= timezone.now():
        raise Conflict("this access review is past its deadline")
    return item


def _remove(item: CampaignItem, *, actor, reason: str) -> tuple[str, str]:
    """Take the membership away; the outcome and a note for the reviewer and the report."""
    sources = membership_remove(
        user=item.user, role_name=item.role, actor=actor, reason=reason, removed_by=_label(item.run)
    )
    if not sources:
        return CampaignItem.Outcome.GONE, "the user no longer held the role"
    back = returning_sources(sources)
    note = (
        f"removed here, but {', '.join(back)} gives it back on the next sign-in or directory "
        "push: remove it at the identity provider"
        if back
        else ""
    )
    return "", note


@retry_on_conflict
@transaction.atomic
def campaign_item_decide(
    *, item_id: int, reviewer: AbstractBaseUser, decision: str, reason: str
) -> CampaignItem:
    """Keep or remove one membership, with a reason, once (Conflict after). Caller: any
    surface; the rule of who may is `item_get_for_decision`."""
    if decision not in CampaignItem.Decision.values:
        raise ValidationFailed("decision must be KEEP or REMOVE", field="decision")
    reason = clean_text(reason, field="reason")  # the one rule for reasons (length, characters)
    if not reason:
        raise ReasonRequired("give a reason for the decision", field="reason")
    item = item_get_for_decision(item_id=item_id, reviewer=reviewer)
    if decision == CampaignItem.Decision.REMOVE:
        outcome, item.note = _remove(item, actor=reviewer, reason=reason)
        item.outcome = outcome or CampaignItem.Outcome.REMOVED
    else:
        item.outcome = CampaignItem.Outcome.KEPT
    item.decision, item.reason = decision, reason
    item.decided_by, item.decided_at = reviewer.get_username(), timezone.now()
    item.save(update_fields=["decision", "reason", "decided_by", "decided_at", "outcome", "note"])
    audit_record(
        action="access_review.decided",
        target_type="access_review",
        target_id=str(item.run_id),
        actor=reviewer,
        data={
            "item": item.pk,
            "user": item.user.get_username(),
            "role": item.role,
            "decision": decision,
            "outcome": item.outcome,
            "reason": reason,
        },
    )
    return item


@retry_on_conflict
@transaction.atomic
def campaign_item_miss(*, item_id: int, now: datetime | None = None) -> bool:
    """Apply `on_missed` to one item left undecided past its run's deadline, in its own
    transaction (a run of 1,000 removals never holds the audit chain for all of them);
    `remove` is the same removal as a reviewer's, audited as the system with the review
    named. False when another worker holds the item, or it was settled already."""
    now = now or timezone.now()
    item = (
        CampaignItem.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("run", "user")
        .filter(pk=item_id, outcome="", run__deadline__lte=now)
        .first()
    )
    if item is None:
        return False
    on_missed = item.run.spec.get("on_missed", "keep")
    item.reason = f"not reviewed by the deadline of {_label(item.run)} (on_missed: {on_missed})"
    # Nobody could have decided it (no reviewer resolved at the start, or its member was
    # the only one): a removal for want of a decision nobody could make would strip every
    # member of a review whose reviewers are misspelt or gone, so it is kept and people are
    # told. (The start's snapshot, not who is left now: earlier removals of this sweep
    # must not make later items unreviewable.)
    reviewable = item.run.reviewers.exclude(pk=item.user_id).exists()
    if on_missed == "remove" and not reviewable:
        item.outcome = CampaignItem.Outcome.MISSED_NOTIFIED
        item.note = "kept: the review had no reviewer who could decide it"
    elif on_missed == "remove":
        outcome, item.note = _remove(item, actor=None, reason=item.reason)
        item.outcome = outcome or CampaignItem.Outcome.MISSED_REMOVED
    elif on_missed == "notify":
        item.outcome = CampaignItem.Outcome.MISSED_NOTIFIED
    else:
        item.outcome = CampaignItem.Outcome.MISSED_KEPT
    item.decided_by, item.decided_at = SYSTEM, now
    item.save(update_fields=["outcome", "note", "reason", "decided_by", "decided_at"])
    # Which memberships stayed (or went) only because nobody reviewed them is evidence: in
    # the audit chain, not only in the item row.
    audit_record(
        action="access_review.missed",
        target_type="access_review",
        target_id=str(item.run_id),
        actor=None,
        data={
            "item": item.pk,
            "user": item.user.get_username(),
            "role": item.role,
            "on_missed": on_missed,
            "outcome": item.outcome,
            "note": item.note,
        },
    )
    return True


@retry_on_conflict
@transaction.atomic
def _run_finish(*, run_id: int, now: datetime) -> bool:
    """Close a run past its deadline whose items are all settled, once (row lock)."""
    run = (
        CampaignRun.objects.select_for_update(skip_locked=True)
        .filter(pk=run_id, state=CampaignRun.State.OPEN, deadline__lte=now)
        .first()
    )
    if run is None or run.items.filter(outcome="").exists():
        return False
    missed = run.items.filter(decided_by=SYSTEM).count()
    on_missed = run.spec.get("on_missed", "keep")
    unreviewed = run.items.filter(
        decided_by=SYSTEM, outcome=CampaignItem.Outcome.MISSED_NOTIFIED
    ).exists()
    if missed and (on_missed == "notify" or unreviewed):
        names = sorted(r.get_username() for r in campaign_run_reviewers_now(run))
        if not names:  # no reviewer left to tell: the administrators are
            User = get_user_model()
            names = sorted(
                User.objects.filter(is_active=True, is_superuser=True).values_list(
                    User.USERNAME_FIELD, flat=True
                )
            )
        outbox_enqueue(
            event=MISSED_EVENT,
            request_id=None,
            recipients=names,
            payload={
                "access_review": run.name,
                "run": run.pk,
                "deadline": run.deadline.isoformat(),
                "deadline_text": f"{run.deadline:%Y-%m-%d %H:%M}",
                "undecided": missed,
            },
        )
    run.state, run.closed = CampaignRun.State.CLOSED, now
    run.save(update_fields=["state", "closed"])
    audit_record(
        action="access_review.closed",
        target_type="access_review",
        target_id=str(run.pk),
        data={"name": run.name, "on_missed": on_missed, "missed": missed},
    )
    return True


def campaign_run_close(*, run_id: int, now: datetime | None = None) -> bool:
    """Close one run past its deadline: `on_missed` for each undecided item (one
    transaction each), then the run. True when this call closed it; running it twice, or in
    two workers at once, changes nothing more (item and run rows are taken skip_locked)."""
    now = now or timezone.now()
    undecided = CampaignItem.objects.filter(
        run_id=run_id, outcome="", run__state=CampaignRun.State.OPEN, run__deadline__lte=now
    ).values_list("pk", flat=True)
    for item_id in list(undecided.order_by("pk")):
        # One item that cannot be settled (a provisioning or signal error in its removal)
        # stays undecided, the run open, and is tried again next tick; the others go on.
        _guarded("item", item_id, campaign_item_miss, item_id=item_id, now=now)
    return _run_finish(run_id=run_id, now=now)


def _guarded(kind: str, ident: object, step, **kwargs):
    """Run one step of the sweep; a failure is logged and audited (its own transaction,
    after the step's rolled back) and the sweep goes on: one bad item or run never stops
    every access review. Returns the step's result, or None when it failed."""
    try:
        return step(**kwargs)
    except Exception as err:  # noqa: BLE001 (any failure of one step; the sweep goes on)
        logger.exception("access review sweep: %s %s failed", kind, ident)
        with transaction.atomic():
            audit_record(
                action="access_review.sweep_failed",
                target_type="access_review",
                target_id=str(ident),
                data={"step": kind, "error": f"{type(err).__name__}: {err}"[:500]},
            )
        return None


@retry_on_conflict
@transaction.atomic
def campaign_run_remind(*, run_id: int, now: datetime | None = None) -> bool:
    """The one pre-deadline reminder of a run, to reviewers with undecided items; taken by
    compare-and-swap on `reminded_at`, so two workers send it once."""
    now = now or timezone.now()
    taken = CampaignRun.objects.filter(
        pk=run_id, state=CampaignRun.State.OPEN, reminded_at=None
    ).update(reminded_at=now)
    if not taken:
        return False
    _tell_reviewers(CampaignRun.objects.get(pk=run_id), REMINDER_EVENT)
    return True


def access_reviews_due(*, now: datetime | None = None) -> dict[str, int]:
    """The beat sweep: start each scheduled review whose latest slot has no run (slots
    before the definition existed are skipped), remind, close runs past their deadline."""
    now = now or timezone.now()
    started = reminded = closed = 0
    for review in AccessReview.objects.order_by("name"):
        slot = schedule_slot(review.spec.get("schedule", ""), now)
        if slot is None or slot < review.created:
            continue
        if CampaignRun.objects.filter(name=review.name, scheduled_for=slot).exists():
            continue
        if _guarded(
            "start",
            review.name,
            campaign_start,
            review_name=review.name,
            scheduled_for=slot,
            now=now,
        ):
            started += 1
    for run in CampaignRun.objects.filter(state=CampaignRun.State.OPEN, reminded_at=None):
        before = run.spec.get("remind_before", 0)
        if before and run.deadline - timedelta(seconds=before) <= now < run.deadline:
            reminded += bool(
                _guarded("remind", run.pk, campaign_run_remind, run_id=run.pk, now=now)
            )
    for run_id in CampaignRun.objects.filter(
        state=CampaignRun.State.OPEN, deadline__lte=now
    ).values_list("pk", flat=True):
        closed += bool(_guarded("close", run_id, campaign_run_close, run_id=run_id, now=now))
    return {"started": started, "reminded": reminded, "closed": closed}
