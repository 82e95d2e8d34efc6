"""Small formatting helpers for the review desk: times, durations, states, threshold progress,
and the link to a request's page."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from accessportal.kernel.choices import RequestState, ReviewState
from policies_app.durations import humanize_duration
from requests_app.models import AccessRequest
from requests_app.services.thresholds import progress
from requests_app.templatetags import times

# What an unnamed threshold (the policy gave none; stored as "default") is called, in the
# desk and the portal alike.
UNNAMED_THRESHOLD = "Default threshold"


def threshold_label(name: str | None) -> str:
    """A threshold's name as people read it: its own name, or `UNNAMED_THRESHOLD`."""
    return name if name and name != "default" else UNNAMED_THRESHOLD


STATE_CLASSES = {
    RequestState.PENDING: "pending",
    RequestState.APPROVED: "approved",
    RequestState.DENIED: "denied",
    RequestState.EXPIRED: "muted",
    RequestState.WITHDRAWN: "muted",
    RequestState.REVOKED: "denied",
}


def when(moment: datetime | None) -> SafeString | str:
    """A moment in a list column or page: `{{ moment|when }}` (templatetags/times.py),
    "30 Nov 2026, 17:44 UTC" in the active zone inside a <time> element; "—" if none."""
    return times.when(moment) if moment else "—"


def when_text(moment: datetime | None) -> str:
    """The same moment as plain text, for messages: "30 Nov 2026, 17:44 UTC"."""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT") if moment else "—"


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
        name = threshold_label(row["name"])
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
