"""Small formatting helpers for the review desk: times, durations, states, threshold progress,
and the link to a request's page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accessportal.kernel.choices import RequestState, ReviewState
from policies_app.durations import humanize_duration
from requests_app.models import AccessRequest
from requests_app.services.thresholds import progress

STATE_CLASSES = {
    RequestState.PENDING: "pending",
    RequestState.APPROVED: "approved",
    RequestState.DENIED: "denied",
    RequestState.EXPIRED: "muted",
    RequestState.WITHDRAWN: "muted",
    RequestState.REVOKED: "denied",
}


def when(moment: datetime | None) -> str:
    """ "2026-11-30 04:46 UTC" in the current time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


def since(moment: datetime | None, now: datetime | None = None) -> str:
    """ "3h 10m" since `moment` (never negative)."""
    if moment is None:
        return "—"
    now = now or timezone.now()
    return humanize_duration(int((now - moment).total_seconds()))


def until(moment: datetime | None, now: datetime | None = None) -> str:
    """ "21h 50m" until `moment`, or "passed"."""
    if moment is None:
        return "—"
    now = now or timezone.now()
    seconds = int((moment - now).total_seconds())
    return humanize_duration(seconds) if seconds > 0 else "passed"


def duration(seconds: int | None) -> str:
    return humanize_duration(seconds) if seconds else "—"


def state_badge(state: str) -> SafeString:
    label = RequestState(state).label if state in RequestState.values else state
    return format_html(
        '<span class="ap-badge ap-{}">{}</span>', STATE_CLASSES.get(state, "muted"), label
    )


def verdict_badge(state: str) -> SafeString:
    approved = state == ReviewState.APPROVED
    return format_html(
        '<span class="ap-badge ap-{}">{}</span>',
        "approved" if approved else "denied",
        "approved" if approved else "denied",
    )


def items(request: AccessRequest) -> SafeString:
    """Requested roles and resources as chips."""
    chips = [("role", r) for r in request.roles] + [("resource", r) for r in request.resources]
    return format_html_join(" ", '<span class="ap-chip ap-chip-{}">{}</span>', chips)


def items_text(request: AccessRequest) -> str:
    return ", ".join([*request.roles, *request.resources]) or "nothing"


def request_label(request: AccessRequest) -> str:
    """ "alice → db-admin, node/db-prod-1" for messages."""
    return f"{request.user.get_username()} → {items_text(request)}"


def request_page_url(request: AccessRequest) -> str:
    """The admin's request page: where every link to a request goes."""
    return reverse("admin:requests_app_accessrequest_change", args=[request.pk])


def progress_rows(request: AccessRequest, reviews: Iterable) -> list[dict]:
    """`thresholds.progress` with the wording and bar widths people read."""
    rows = []
    for row in progress(request.policy, reviews):
        name = row["name"] or "default"
        parts = []
        if row["approve"]:
            parts.append(f"{row['approvals']} of {row['approve']} approvals")
        if row["deny"] and (row["denials"] or not row["approve"]):
            parts.append(f"{row['denials']} of {row['deny']} denials")
        rows.append(
            {
                **row,
                "label": name,
                "text": f"{name}: {', '.join(parts) or 'never decides'}",
                "approve_pct": _pct(row["approvals"], row["approve"]),
                "deny_pct": _pct(row["denials"], row["deny"]),
            }
        )
    return rows


def _pct(count: int, needed: int) -> int:
    return min(100, round(100 * count / needed)) if needed else 0


def progress_html(request: AccessRequest, reviews: Iterable) -> SafeString:
    return format_html_join(
        "",
        '<div class="ap-progress"><span class="ap-bar"><span class="pct-{}"></span></span>{}</div>',
        ((row["approve_pct"], row["text"]) for row in progress_rows(request, reviews)),
    )
