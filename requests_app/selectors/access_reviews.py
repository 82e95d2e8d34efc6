"""Who sees which access review runs and items: querysets, never filtered lists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from requests_app.models import CampaignItem, CampaignRun

VIEW_RUNS = "requests_app.view_campaignrun"


def sees_all_reviews(user: AbstractBaseUser) -> bool:
    """Superusers and auditors (the model-level view permission) see every run and item."""
    return user.is_active and (user.is_superuser or user.has_perm(VIEW_RUNS))


def campaign_items_visible_to(user: AbstractBaseUser) -> QuerySet[CampaignItem]:
    """Items `user` may see: those they review, their own memberships, or all (auditors)."""
    items = CampaignItem.objects.all()
    if sees_all_reviews(user):
        return items
    if not user.is_authenticated or not user.is_active:
        return items.none()
    runs = CampaignRun.reviewers.through.objects.filter(user_id=user.pk)
    return items.filter(Q(user_id=user.pk) | Q(run_id__in=runs.values("campaignrun_id")))


def campaign_items_to_decide(user: AbstractBaseUser) -> QuerySet[CampaignItem]:
    """Open items of open runs that `user` reviews (never their own), deadline first."""
    runs = CampaignRun.reviewers.through.objects.filter(user_id=user.pk)
    return (
        CampaignItem.objects.filter(
            run_id__in=runs.values("campaignrun_id"),
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
