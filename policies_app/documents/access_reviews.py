"""`kind: access_review` documents: a recurring review of standing role memberships
(README "Access reviews").

    kind: access_review
    name: quarterly-prod
    spec:
      roles: ["prod-*", db-admin]        # memberships in scope: names, globs or ^regex$
      reviewers: [carol]                 # users who review every item...
      reviewer_roles: [security]         # ...and/or the standing holders of these roles
      schedule: quarterly                # quarterly | monthly | a 5-field cron spec | "" (manual)
      duration: 14d                      # start to deadline
      remind_before: 2d                  # a reminder this long before the deadline (0: none)
      on_missed: keep                    # keep | notify | remove: undecided at the deadline

The schedule is read by croniter (a maintained cron parser), never by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from croniter import croniter

from policies_app.documents.checker import Checker, Problem
from policies_app.durations import format_duration, parse_duration

ON_MISSED = ("keep", "notify", "remove")
SCHEDULE_ALIASES = {
    "quarterly": "0 9 1 1,4,7,10 *",  # 09:00 UTC on the first day of each quarter
    "monthly": "0 9 1 * *",
}
DEFAULT_DURATION = 14 * 86400
DEFAULT_REMIND_BEFORE = 2 * 86400


def cron_spec(schedule: str) -> str:
    """The cron expression a schedule stands for ("" when the review is started by hand)."""
    return SCHEDULE_ALIASES.get(schedule, schedule)


def schedule_slot(schedule: str, now: datetime) -> datetime | None:
    """The latest time at or before `now` the schedule fires (UTC), or None (manual)."""
    spec = cron_spec(schedule)
    if not spec:
        return None
    now = now.astimezone(UTC)
    slot = croniter(spec, now).get_prev(datetime)  # strictly before `now`...
    following = croniter(spec, slot).get_next(datetime)
    return following if following <= now else slot  # ...so a tick on the slot is that slot


def _duration(check: Checker, value: Any, field: str, default: int, *, allow_zero=False) -> int:
    if value in (None, ""):
        return default
    try:
        seconds = parse_duration(value) if value not in (0, "0") else 0
    except ValueError as err:
        check.add(field, str(err))
        return default
    if seconds <= 0 and not allow_zero:
        check.add(field, "must be longer than zero")
    return seconds


def normalize_access_review(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: access_review` document. At least one reviewer (a user or a role):
    the portal has no role owners to fall back on."""
    check = Checker()
    doc = check.mapping(doc, "access_review", {"kind", "name", "description", "spec", "version"})
    name = check.name(doc.get("name"), "access review")
    description = check.text(doc.get("description"), "description")
    spec = check.mapping(
        doc.get("spec"),
        "spec",
        {"roles", "reviewers", "reviewer_roles", "schedule", "duration", "remind_before",
         "on_missed"},
    )  # fmt: skip
    roles = check.string_list(spec.get("roles"), "spec.roles", pattern=True)
    if not roles:
        check.add("spec.roles", "give the roles whose members are reviewed (names, globs, ^regex$)")
    reviewers = check.string_list(spec.get("reviewers"), "spec.reviewers")
    reviewer_roles = check.string_list(spec.get("reviewer_roles"), "spec.reviewer_roles")
    if not reviewers and not reviewer_roles:
        check.add(
            "spec",
            "name who reviews: spec.reviewers (users) and/or spec.reviewer_roles (holders of "
            "these standing roles)",
        )
    schedule = spec.get("schedule") or ""
    if not isinstance(schedule, str):
        check.add("spec.schedule", "must be quarterly, monthly or a cron spec ('0 9 1 * *')")
        schedule = ""
    schedule = schedule.strip()
    if schedule and not croniter.is_valid(cron_spec(schedule)):
        check.add(
            "spec.schedule",
            f"{schedule!r} is not quarterly, monthly or a valid 5-field cron spec ('0 9 1 * *')",
        )
    duration = _duration(check, spec.get("duration"), "spec.duration", DEFAULT_DURATION)
    remind = _duration(
        check, spec.get("remind_before"), "spec.remind_before", DEFAULT_REMIND_BEFORE,
        allow_zero=True,
    )  # fmt: skip
    on_missed = spec.get("on_missed") or "keep"
    if on_missed not in ON_MISSED:
        check.add("spec.on_missed", f"must be one of {', '.join(ON_MISSED)}")
        on_missed = "keep"
    normalized = {
        "roles": roles,
        "reviewers": reviewers,
        "reviewer_roles": reviewer_roles,
        "schedule": schedule,
        "duration": duration,
        "remind_before": remind,
        "on_missed": on_missed,
    }
    return {"name": name, "description": description, "spec": normalized}, check.problems


def export_access_review_spec(spec: dict) -> dict:
    """The normalized spec written back as a file would say it (inverse of normalize)."""
    out = dict(spec)
    out["duration"] = format_duration(out["duration"])
    out["remind_before"] = format_duration(out["remind_before"]) if out["remind_before"] else 0
    for key in ("reviewers", "reviewer_roles", "schedule"):
        if not out.get(key):
            out.pop(key, None)
    return out
