"""Who sees which access review runs and items: querysets, never filtered lists."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from policies_app.models import RoleMembership
from requests_app.models import CampaignItem, CampaignRun

VIEW_RUNS = "requests_app.view_campaignrun"


def sees_all_reviews(user: AbstractBaseUser) -> bool:
    """Superusers and auditors (the model-level view permission) see every run and item."""
    return user.is_active and (user.is_superuser or user.has_perm(VIEW_RUNS))


def access_review_reviewers(spec: dict) -> QuerySet:
    """The active users a review's spec names as reviewers: `reviewers` by user name, and
    the current standing holders of `reviewer_roles`. The one rule of who reviews: a run
    snapshots it at its start, and a snapshotted reviewer decides only while it still
    holds (`campaign_runs_reviewed_by`)."""
    User = get_user_model()
    holders = RoleMembership.objects.filter(role__name__in=spec.get("reviewer_roles", []))
    return User.objects.filter(is_active=True).filter(
        Q(**{f"{User.USERNAME_FIELD}__in": spec.get("reviewers", [])})
        | Q(pk__in=holders.values("user_id"))
    )


def _current_spec(run: CampaignRun) -> dict:
    """Who reviews a run now is read from its review's current definition (a policy change
    that drops a reviewer drops them from open runs too), or its snapshot once deleted."""
    return run.review.spec if run.review_id and run.review else run.spec


def campaign_run_reviewers_now(run: CampaignRun) -> QuerySet:
    """The run's snapshotted reviewers who are still reviewers (`access_review_reviewers`)."""
    return run.reviewers.filter(pk__in=access_review_reviewers(_current_spec(run)).values("pk"))


def campaign_runs_reviewed_by(user: AbstractBaseUser, *, open_only: bool = False) -> list[int]:
    """Ids of the runs `user` reviews now: in the run's reviewer snapshot (the upper bound)
    and still eligible under `access_review_reviewers` (invariant 4: current standing
    roles). One query when the user reviews no run, two otherwise."""
    if not user.is_authenticated or not user.is_active:
        return []
    runs = CampaignRun.objects.filter(reviewers=user)
    if open_only:
        runs = runs.filter(state=CampaignRun.State.OPEN)
    rows = list(runs.values_list("pk", "spec", "review__spec"))
    if not rows:
        return []
    name = user.get_username()
    roles = set(RoleMembership.objects.filter(user=user).values_list("role__name", flat=True))
    return [
        pk
        for pk, spec, current in rows
        if name in (current or spec).get("reviewers", [])
        or roles & set((current or spec).get("reviewer_roles", []))
    ]


def campaign_items_visible_to(user: AbstractBaseUser) -> QuerySet[CampaignItem]:
    """Items `user` may see: those of runs they review now, their own memberships, or all
    (auditors)."""
    items = CampaignItem.objects.all()
    if sees_all_reviews(user):
        return items
    if not user.is_authenticated or not user.is_active:
        return items.none()
    return items.filter(Q(user_id=user.pk) | Q(run_id__in=campaign_runs_reviewed_by(user)))


def campaign_items_to_decide(user: AbstractBaseUser) -> QuerySet[CampaignItem]:
    """Open items of open runs that `user` reviews now (never their own), deadline first."""
    runs = campaign_runs_reviewed_by(user, open_only=True)
    if not runs:
        return CampaignItem.objects.none()
    return (
        CampaignItem.objects.filter(
            run_id__in=runs,
            outcome="",
            run__state=CampaignRun.State.OPEN,
        )
        .exclude(user_id=user.pk)
        .select_related("run", "user")
        .order_by("run__deadline", "run_id", "role", "user_id")
    )


def campaign_runs_visible_to(user: AbstractBaseUser) -> QuerySet[CampaignRun]:
    """Runs and their reports: auditors and superusers only (reviewers see their items)."""
    runs = CampaignRun.objects.all()
    return runs if sees_all_reviews(user) else runs.none()


def campaign_report_rows(run: CampaignRun) -> list[dict]:
    """Who decided what, when, with which outcome: one row per item of `run`."""
    return [
        {
            "user": item.user.get_username(),
            "role": item.role,
            "sources": ", ".join(item.sources),
            "decision": item.decision or "",
            "outcome": item.get_outcome_display() if item.outcome else "undecided",
            "decided_by": item.decided_by,
            "decided_at": item.decided_at.isoformat() if item.decided_at else "",
            "reason": item.reason,
            "note": item.note,
        }
        for item in run.items.select_related("user").order_by("role", "user_id")
    ]
