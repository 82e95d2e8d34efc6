"""Evaluating review rules (kind: review_rule) against one request: which rule fires, with
what review, and the inputs that decided it (for the audit).

Pure reads plus on-call lookups (HTTP, cached): call it outside any transaction. The
request layer (requests_app.services.review_rules) builds the `request` and `user`
mappings, then writes the review through `review_submit`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from policies_app.matching import matches_any
from policies_app.oncall import OncallUnavailable, oncall_people
from policies_app.predicates import parse
from policies_app.reason_templates import reason_fill

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Requester:
    """Who asks, as the rules see them: user name (matched against static on-call lists),
    email (matched against PagerDuty and Opsgenie answers; "" unless exactly one active
    account holds it: `policies_app.selectors.oncall_email`), standing role names and
    traits."""

    username: str
    email: str
    roles: list[str]
    traits: dict[str, list[str]]


@dataclass
class RuleOutcome:
    """One rule's answer for one request."""

    rule: str
    fired: bool
    state: str
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # on-call sources that did not answer
    # Why a rule whose `when` held does not review this request (items outside its scope,
    # access starting later); "" otherwise. Then `fired` is False.
    not_applicable: str = ""


def now_variables(at: datetime, timezone: str) -> dict[str, str]:
    """`now.weekday` ("mon".."sun") and `now.hour` ("0".."23") at `at` in `timezone`."""
    local = at.astimezone(ZoneInfo(timezone or "UTC"))
    return {"weekday": WEEKDAYS[local.weekday()], "hour": str(local.hour)}


class _Oncall:
    """`oncall(name)` for one requester at one instant; remembers each answer (and
    failure) so the audit can name them. Unknown schedules and failing sources: false."""

    def __init__(self, requester: Requester, at: datetime, schedules: Mapping[str, dict]):
        self.requester, self.at, self.schedules = requester, at, schedules
        self.answers: dict[str, bool | str] = {}
        self.failures: list[str] = []

    def __call__(self, name: str) -> bool:
        if name in self.answers:
            return self.answers[name] is True
        spec = self.schedules.get(name)
        if spec is None:
            self.answers[name] = "unknown schedule"
            return False
        try:
            people = oncall_people(spec, self.at)
        except OncallUnavailable as err:
            logger.warning("oncall(%r) is false: the source did not answer: %s", name, err)
            self.answers[name] = f"unavailable: {err}"[:300]
            self.failures.append(name)
            return False
        self.answers[name] = self.requester.username.lower() in people.usernames or bool(
            self.requester.email and self.requester.email.lower() in people.emails
        )
        return self.answers[name] is True


def outside_scope(spec: Mapping[str, Any], request: Mapping[str, Any]) -> list[str]:
    """The requested roles and resources (`kind/name`) that the rule's `spec.roles` /
    `spec.resources` patterns do not cover: the rule reviews only when there are none."""
    roles = [r for r in request.get("roles", []) if not matches_any(spec.get("roles", []), r)]
    resources = [
        r for r in request.get("resources", []) if not matches_any(spec.get("resources", []), r)
    ]
    return [*roles, *resources]


def starts_too_late(starts: datetime | None, at: datetime) -> bool:
    """Whether access asked to start at `starts` begins after the moment the rule judged
    (`at`) plus ONCALL_CACHE_SECONDS: who is on call and what hour it is were checked for
    `at`, not for then, so such a request waits for people."""
    margin = timedelta(seconds=max(0, settings.ONCALL_CACHE_SECONDS))
    return starts is not None and starts > at + margin


def review_rule_evaluate(
    name: str,
    spec: Mapping[str, Any],
    *,
    request: Mapping[str, Any],
    requester: Requester,
    at: datetime,
    schedules: Mapping[str, dict],
    starts: datetime | None = None,
) -> RuleOutcome:
    """Whether rule `name` fires for `request` (its `request.*` variables) asked by
    `requester` at `at`, the access starting at `starts` (None: on approval); `inputs`
    holds every variable the rule read and every on-call answer, as they were. A rule fires
    only when its `when` holds, every requested item is within its `roles`/`resources`,
    and the access does not start later than `at` plus a short margin."""
    oncall = _Oncall(requester, at, schedules)
    ctx = {
        "request": dict(request),
        "user": {"roles": list(requester.roles), "traits": dict(requester.traits)},
        "now": now_variables(at, spec.get("timezone", "UTC")),
        "oncall": oncall,
    }
    predicate = parse(spec["when"], scope="review_rule")
    fired = predicate.evaluate(ctx)
    inputs: dict[str, Any] = {}
    for var in predicate.variables():
        label = f'{var.name}["{var.key}"]' if var.key is not None else var.name
        inputs[label] = var.resolve(ctx)
    if oncall.answers:
        inputs["oncall"] = dict(oncall.answers)
    not_applicable = ""
    if fired:
        if outside := outside_scope(spec, request):
            not_applicable = "the request holds items outside the rule: " + ", ".join(outside)
        elif starts_too_late(starts, at):
            not_applicable = f"the access starts later ({starts:%Y-%m-%d %H:%M} UTC)"
        if not_applicable:
            fired = False
            inputs["not_applicable"] = not_applicable
    review = spec.get("review", {})
    on_call = [schedule for schedule, answer in oncall.answers.items() if answer is True]
    reason = reason_fill(
        review.get("reason", ""),
        {
            "rule": name,
            "request.user": str(request.get("user") or ""),
            "request.roles": ", ".join(request.get("roles") or []),
            "request.resources": ", ".join(request.get("resources") or []),
            "oncall": ", ".join(on_call),
        },
    )
    return RuleOutcome(
        rule=name,
        not_applicable=not_applicable,
        fired=fired,
        state=review.get("state", ""),
        reason=reason,
        inputs=inputs,
        failures=oncall.failures,
    )


def review_rules_decide(outcomes: Iterable[RuleOutcome]) -> RuleOutcome | None:
    """The rule whose review is written: a firing DENIED rule wins over approving ones
    (deny wins, as everywhere in policy); else the first firing rule by name; else None."""
    fired = sorted((o for o in outcomes if o.fired), key=lambda o: o.rule)
    return next((o for o in fired if o.state == "DENIED"), fired[0] if fired else None)


def review_rules_evaluate(
    rules: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    request: Mapping[str, Any],
    requester: Requester,
    at: datetime,
    schedules: Mapping[str, dict],
    starts: datetime | None = None,
) -> list[RuleOutcome]:
    """Every rule's outcome, in name order."""
    return [
        review_rule_evaluate(
            name,
            spec,
            request=request,
            requester=requester,
            at=at,
            schedules=schedules,
            starts=starts,
        )
        for name, spec in sorted(rules, key=lambda r: r[0])
    ]
