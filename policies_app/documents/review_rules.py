"""`kind: review_rule` and `kind: oncall_schedule` documents (README "Review rules").

    kind: review_rule
    name: oncall-ssh
    spec:
      roles: [ssh-prod]                  # what it may review: every requested item in here
      when: 'oncall("payments")'
      timezone: Europe/Berlin
      review: {state: APPROVED, reason: "{request.user} is on call for {oncall}"}
    ---
    kind: oncall_schedule
    name: payments
    spec:
      pagerduty: {schedule_id: PABC123}

A schedule names exactly one source: `pagerduty: {schedule_id}`, `opsgenie: {schedule}` (a
schedule name) or `static: [user names]` (matched against user names only, never
emails). Credentials never go into the file.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from policies_app.documents.checker import Checker, Problem
from policies_app.predicates import PredicateError, parse
from policies_app.reason_templates import reason_template_problems

REVIEW_STATES = ("APPROVED", "DENIED")
ONCALL_SOURCES = ("pagerduty", "opsgenie", "static")
MAX_STATIC = 500
_SCHEDULE_ID_RE = re.compile(r"^[A-Za-z0-9_.:@ -]{1,200}$")


def _timezone(check: Checker, value: Any) -> str:
    if value in (None, ""):
        return "UTC"
    if not isinstance(value, str):
        check.add("spec.timezone", "must be a time zone name such as Europe/Berlin")
        return "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        check.add("spec.timezone", f"unknown time zone {value!r} (an IANA name: Europe/Berlin)")
    return value


def rule_schedules(when: str) -> list[str]:
    """The schedule names a rule's `when` asks `oncall()` about (it must parse)."""
    try:
        predicate = parse(when, scope="review_rule")
    except PredicateError:
        return []
    return list(dict.fromkeys(call.args[0].value for call in predicate.calls("oncall")))


def normalize_review_rule(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: review_rule` document: {name, description, spec: {roles, resources,
    when, timezone, review: {state, reason}}}. `roles` and `resources` (patterns, as in a
    role's `request.roles`; resources as `kind/name`) are the rule's scope: it reviews a
    request only when every requested item is in them. That every `oncall()` schedule
    exists is checked by the loader and the admin service, which know the stored ones."""
    check = Checker()
    doc = check.mapping(doc, "review_rule", {"kind", "name", "description", "spec", "version"})
    name = check.name(doc.get("name"), "rule")
    description = check.text(doc.get("description"), "description")
    spec = check.mapping(
        doc.get("spec"), "spec", {"roles", "resources", "when", "timezone", "review"}
    )
    roles = check.string_list(spec.get("roles"), "spec.roles", pattern=True)
    resources = check.string_list(spec.get("resources"), "spec.resources", pattern=True)
    if not roles and not resources:
        check.add(
            "spec",
            "give the roles and/or resources the rule may review (spec.roles, spec.resources: "
            "names, globs or ^regex$); it reviews only requests whose every item is in them",
        )
    when = spec.get("when")
    if when in (None, ""):
        check.add("spec.when", "give the condition under which the rule reviews")
        when = ""
    else:
        when = check.predicate(when, "spec.when", "review_rule")
    review = check.mapping(spec.get("review"), "spec.review", {"state", "reason"})
    state = review.get("state")
    if state not in REVIEW_STATES:
        check.add("spec.review.state", f"must be one of {', '.join(REVIEW_STATES)}")
        state = ""
    reason = check.text(review.get("reason"), "spec.review.reason").strip()
    if not reason:
        check.add("spec.review.reason", "give the reason the review shows (who and why)")
    for problem in reason_template_problems(reason):
        check.add("spec.review.reason", problem)
    normalized = {
        "roles": roles,
        "resources": resources,
        "when": when,
        "timezone": _timezone(check, spec.get("timezone")),
        "review": {"state": state, "reason": reason},
    }
    return {"name": name, "description": description, "spec": normalized}, check.problems


def normalize_oncall_schedule(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: oncall_schedule` document: exactly one source in its spec."""
    check = Checker()
    doc = check.mapping(doc, "oncall_schedule", {"kind", "name", "description", "spec", "version"})
    name = check.name(doc.get("name"), "schedule")
    description = check.text(doc.get("description"), "description")
    spec = check.mapping(doc.get("spec"), "spec", set(ONCALL_SOURCES))
    given = [source for source in ONCALL_SOURCES if source in spec]
    normalized: dict = {}
    if len(given) != 1:
        check.add("spec", f"give exactly one source: {', '.join(ONCALL_SOURCES)}")
    elif given == ["pagerduty"]:
        raw = check.mapping(spec["pagerduty"], "spec.pagerduty", {"schedule_id"})
        schedule_id = raw.get("schedule_id")
        if not isinstance(schedule_id, str) or not _SCHEDULE_ID_RE.match(schedule_id):
            check.add("spec.pagerduty.schedule_id", "give the PagerDuty schedule id (e.g. PABC123)")
        normalized["pagerduty"] = {
            "schedule_id": schedule_id if isinstance(schedule_id, str) else ""
        }
    elif given == ["opsgenie"]:
        raw = check.mapping(spec["opsgenie"], "spec.opsgenie", {"schedule"})
        schedule = raw.get("schedule")
        if not isinstance(schedule, str) or not _SCHEDULE_ID_RE.match(schedule):
            check.add("spec.opsgenie.schedule", "give the Opsgenie schedule name")
        normalized["opsgenie"] = {"schedule": schedule if isinstance(schedule, str) else ""}
    else:
        people = check.string_list(spec["static"], "spec.static")
        if len(people) > MAX_STATIC:
            check.add("spec.static", f"at most {MAX_STATIC} people")
        normalized["static"] = people
    return {"name": name, "description": description, "spec": normalized}, check.problems


def export_review_rule_spec(spec: dict) -> dict:
    """The normalized spec without the default time zone (inverse of normalize)."""
    out = dict(spec)
    if out.get("timezone") == "UTC":
        out.pop("timezone")
    for key in ("roles", "resources"):
        if not out.get(key):
            out.pop(key, None)
    return out


def export_oncall_schedule_spec(spec: dict) -> dict:
    return dict(spec)
