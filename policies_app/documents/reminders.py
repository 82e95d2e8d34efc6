"""`allow.request.reminders`: the reminder and escalation tiers of a requestable role.

    reminders:
      - {after: 30m}                                   # remind the eligible reviewers
      - {after: 2h, notify: [oncall-leads, "#sre"]}    # escalate: a role, a user, a rule

Each tier fires once per request, `after` the request was made, while it is still pending
(requests_app.services.escalation). `notify` names users or roles (their standing holders)
and, with a leading "#", a notification rule whose channels get the message; a tier without
`notify` reminds the request's eligible reviewers who have not reviewed yet.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from policies_app.documents.checker import NAME_RE, Checker
from policies_app.durations import DurationError, format_duration, parse_duration

MAX_TIERS = 10
MAX_NOTIFY = 50


def normalize_reminders(check: Checker, raw: Any, field: str) -> list[dict]:
    """Checked tiers, sorted by `after` (seconds): [{"after": 1800, "notify": [...]}]."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        check.add(field, "must be a list of tiers like {after: 30m, notify: [oncall-leads]}")
        return []
    if len(raw) > MAX_TIERS:
        check.add(field, f"at most {MAX_TIERS} tiers")
        return []
    tiers: list[dict] = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        item = check.mapping(item, where, {"after", "notify"})
        after = _after(check, item.get("after"), f"{where}.after")
        notify = _notify(check, item.get("notify"), f"{where}.notify")
        if after is None:
            continue
        if any(t["after"] == after for t in tiers):
            check.add(
                f"{where}.after", f"another tier already fires after {format_duration(after)}"
            )
            continue
        tiers.append({"after": after, "notify": notify})
    return sorted(tiers, key=lambda t: t["after"])


def _after(check: Checker, value: Any, field: str) -> int | None:
    if value in (None, ""):
        check.add(field, "required: how long after the request is made, e.g. 30m")
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as err:
        check.add(field, str(err))
        return None
    ceiling = settings.ACCESS_MAX_REQUEST_TTL
    if seconds >= ceiling:
        check.add(field, f"less than {format_duration(ceiling)} (nothing stays pending longer)")
        return None
    return seconds


def _notify(check: Checker, value: Any, field: str) -> list[str]:
    names = check.string_list(value, field)
    if len(names) > MAX_NOTIFY:
        check.add(field, f"at most {MAX_NOTIFY} names")
        return []
    out = []
    for i, name in enumerate(names):
        if not NAME_RE.match(name.removeprefix("#")):
            check.add(
                f"{field}[{i}]",
                f"{name!r} is not a user, role or '#notification-rule' name",
            )
            continue
        out.append(name)
    return out


def export_reminders(tiers: list[dict]) -> list[dict]:
    """The tiers as people write them (durations as text, no empty `notify`)."""
    out = []
    for tier in tiers:
        item: dict = {"after": format_duration(tier["after"])}
        if tier.get("notify"):
            item["notify"] = list(tier["notify"])
        out.append(item)
    return out
