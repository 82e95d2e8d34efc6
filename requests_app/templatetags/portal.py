"""Template helpers for the portal: durations and countdowns for people, state colours."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from policies_app.durations import humanize_duration
from requests_app.services import endings

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """8100 -> "2h 15m"."""
    if seconds in (None, ""):
        return ""
    return humanize_duration(int(seconds))


@register.filter
def until(moment: datetime | None) -> str:
    """Time left until `moment` ("2h 13m"), as the countdown script also writes it."""
    if moment is None:
        return ""
    left = int((moment - timezone.now()).total_seconds())
    if left <= 0:
        return "0s"
    if left < 60:
        return "less than a minute"
    # Whole minutes, rounded up: "ends in 8h" just after an 8h grant opens.
    return humanize_duration(-(-left // 60) * 60)


@register.filter
def ago(moment: datetime | None) -> str:
    """ "3h 5m ago" / "just now"."""
    if moment is None:
        return ""
    gone = int((timezone.now() - moment).total_seconds())
    if gone < 60:
        return "just now"
    return f"{humanize_duration(gone)} ago"


@register.filter
def is_future(moment: datetime | None) -> bool:
    return moment is not None and moment > timezone.now()


@register.filter
def state_class(state: str) -> str:
    return f"state-{(state or '').lower()}"


@register.filter
def items_of(access_request) -> list[str]:
    return [*access_request.roles, *access_request.resources]


@register.filter
def percent(count, total) -> int:
    """Bar width for `count` of `total` (0 when nothing is needed)."""
    try:
        return min(100, round(100 * int(count) / int(total))) if int(total) else 0
    except (TypeError, ValueError):
        return 0


@register.filter
def remaining_percent(access_request) -> str:
    """How much of the access window is left, for the shrinking bar (0-100)."""
    starts = access_request.access_starts
    expires = getattr(access_request, "ends", None) or access_request.access_expires
    if not starts or not expires or expires <= starts:
        return "0"
    left = (expires - timezone.now()) / (expires - starts)
    return f"{max(0.0, min(1.0, left)) * 100:.1f}"


@register.filter
def access_end(access_request):
    """How and when the access ended (`endings.access_end`), or None; uses `ending` when
    the view already worked it out for a list."""
    if hasattr(access_request, "ending"):
        return access_request.ending
    access_request.ending = endings.access_end(access_request)
    return access_request.ending


@register.filter
def ended_words(ending, case: str = "") -> str:
    """What to put before the end time: "Ended early at", "Revoked by bob at"...;
    `ended_words:"lower"` mid-sentence ("… – ended early at")."""
    if ending is None:
        return ""
    if ending.ended_early:
        words = "Ended early at"
    elif ending.cancelled:
        words = "Cancelled before it started, at"
    elif ending.revoked:
        who = ending.by.get_username() if ending.by is not None else ""
        words = f"Revoked by {who} at" if who else "Revoked at"
    else:
        words = "Ended at"
    return words[:1].lower() + words[1:] if case == "lower" else words


@register.filter
def state_label(access_request) -> str:
    """The state as the requester reads it: "Ended early" when they ended it themself,
    "Cancelled" when it was revoked before it started."""
    ending = access_end(access_request)
    if ending is not None and ending.ended_early:
        return "Ended early"
    if ending is not None and ending.cancelled:
        return "Cancelled"
    return access_request.get_state_display()


@register.filter
def error_count(form) -> int:
    """How many errors a form's summary lists (two on one field count two)."""
    return sum(len(errors) for errors in form.errors.values())
