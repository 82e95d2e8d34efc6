"""Creating access requests: who may ask for what, with which reason, for how long.

`access_request_create` applies the requester's standing roles with Teleport's semantics
(deny wins, `roles: ["*"]`, search-as roles for resources), snapshots the thresholds and
caps into the request (invariant 8), and writes the request, its audit event and its
notification in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accessportal.kernel.audit import audit_record
from accessportal.kernel.choices import AuditAction, RequestState
from accessportal.kernel.errors import NotAllowed, ReasonRequired, Unprocessable, ValidationFailed
from accessportal.kernel.locking import retry_on_conflict
from accessportal.metrics import observe
from policies_app.catalog import RequestRule, request_rule
from policies_app.documents import parse_resource_id
from policies_app.durations import DurationError, format_duration, parse_duration
from policies_app.engine import PolicySet, RolePolicy, Subject
from policies_app.selectors import policies_and_subject, resource_ref, resources_by_id
from requests_app.models import AccessRequest
from requests_app.services.jobs import request_schedule_expiry
from requests_app.services.known_relations import remember_no_break_glass, remember_reviews
from requests_app.services.outbox import outbox_enqueue, request_payload
from requests_app.services.text import MAX_REASON as MAX_REASON  # re-exported
from requests_app.services.text import check_name, clean_text
from requests_app.services.thresholds import ThresholdBook
from requests_app.services.visibility import request_permissions_create

MAX_RESOURCES = 300
MAX_ROLES = 100
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class ItemsRule:
    """What the service applies to a request for items with these rules: a reason when any
    item requires one (the first prompt given), and, when no duration is asked, the default
    lowered to the smallest cap. Forms show it before anything is asked."""

    reason_required: bool
    reason_prompt: str
    default_duration: int


def items_rule(rules: Iterable[RequestRule]) -> ItemsRule:
    rules = list(rules)
    return ItemsRule(
        reason_required=any(r.reason_required for r in rules),
        reason_prompt=next((r.reason_prompt for r in rules if r.reason_prompt), ""),
        default_duration=min([settings.ACCESS_DEFAULT_DURATION, *(r.max_duration for r in rules)]),
    )


@dataclass
class _ItemRules:
    """What the requester's policies say about the items they asked for."""

    book: ThresholdBook = field(default_factory=ThresholdBook)
    review_roles: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, list[RolePolicy]] = field(default_factory=dict)
    # Per item, its cap and reason rule: `catalog.request_rule`, the function the portal's
    # catalog shows, so what a user is shown is what the service applies.
    item_rules: dict[str, RequestRule] = field(default_factory=dict)
    # Reminder and escalation tiers of every rule behind an item, each once.
    reminders: list[dict] = field(default_factory=list)

    def add(self, subject: Subject, item: str, rules: list[RolePolicy], via: list[str]) -> None:
        self.rules[item] = rules
        self.review_roles[item] = via
        resource = item.startswith("resource:")
        self.item_rules[item] = request_rule(subject, rules, via, resource=resource)
        for rule in rules:
            self.book.add_set(item, rule.allow_request.get("thresholds", []))
            for tier in rule.allow_request.get("reminders", []):
                if tier not in self.reminders:
                    self.reminders.append(tier)

    @property
    def reason_rule(self) -> tuple[bool, str]:
        """A reason is required if any item's rule requires one; the first item's prompt."""
        rule = items_rule(self.item_rules.values())
        return rule.reason_required, rule.reason_prompt

    def approved_duration(self, requested: int) -> int:
        """The requested time, lowered to the smallest cap among the items."""
        return min([requested, *(r.max_duration for r in self.item_rules.values())])

    @property
    def all_rules(self) -> list[RolePolicy]:
        seen: dict[str, RolePolicy] = {}
        for rules in self.rules.values():
            for rule in rules:
                seen.setdefault(rule.name, rule)
        return list(seen.values())


@dataclass(frozen=True)
class CreatePlan:
    """A request checked against its input rules and the requester's policies, not yet written."""

    requester: AbstractBaseUser
    now: datetime
    policies: PolicySet
    items: _ItemRules
    roles: list[str]
    resource_ids: list[str]
    reason: str
    requested: int
    ttl: int
    start: datetime | None
    suggested_reviewers: list[str]
    extends: AccessRequest | None


def _string_list(value: object, name: str, limit: int) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"{name} must be a list of strings", field=name)
    out = list(dict.fromkeys(check_name(v.strip(), field=name) for v in value if v.strip()))
    if len(out) > limit:
        raise ValidationFailed(f"at most {limit} {name} per request", field=name)
    return out


def _resolve_roles(
    subject: Subject, policies: PolicySet, roles: list[str], items: _ItemRules
) -> list[str]:
    if "*" in roles:
        roles = [r for r in roles if r != "*"] + subject.requestable_roles
        roles = list(dict.fromkeys(roles))
        if not roles:
            raise NotAllowed("there is no role you may request", field="roles")
    held = set(subject.role_names)
    for role in roles:
        if role in held:
            raise Unprocessable(f"you already hold the role {role!r}", field="roles")
        rules = subject.role_request_rules(role) if role in policies.roles else []
        if not rules:
            raise NotAllowed(
                f"you may not request the role {role!r} (it does not exist or no role of "
                f"yours allows requesting it)",
                field="roles",
            )
        items.add(subject, f"role:{role}", rules, [role])
    return roles


def _resolve_resources(subject: Subject, ids: list[str], items: _ItemRules) -> None:
    for rid in ids:
        if parse_resource_id(rid) is None:
            raise ValidationFailed(
                f"{rid!r} is not a resource id (kind/name, e.g. node/db-prod-1)", field="resources"
            )
    found = resources_by_id(ids)
    for rid in ids:
        resource = found.get(rid)
        rules, reaching = (
            subject.resource_request_rules(resource_ref(resource)) if resource else ([], [])
        )
        if not rules:
            # One message for unknown and forbidden, so requests cannot probe for resources.
            raise NotAllowed(
                f"you may not request the resource {rid!r} (it does not exist or no role of "
                f"yours allows requesting it)",
                field="resources",
            )
        items.add(subject, f"resource:{rid}", rules, reaching)


def _duration(value: object, name: str, default: int, ceiling: int) -> int:
    if value in (None, ""):
        return default
    try:
        seconds = parse_duration(value)
    except DurationError as err:
        raise ValidationFailed(str(err), field=name) from None
    if seconds > ceiling:
        raise Unprocessable(
            f"{name} may be at most {format_duration(ceiling)} "
            f"(asked for {format_duration(seconds)})",
            field=name,
        )
    return seconds


def validate_start_time(value: datetime | None, now: datetime, name: str) -> datetime | None:
    """`assume_start_time` is no earlier than now and at most 7 days ahead."""
    if value is None:
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ValidationFailed(f"{name} must be a time with a time zone (RFC 3339)", field=name)
    if value < now - CLOCK_SKEW:
        raise Unprocessable(f"{name} is in the past", field=name)
    if value > now + timedelta(seconds=settings.ACCESS_MAX_START_DELAY):
        raise Unprocessable(
            f"{name} may be at most {format_duration(settings.ACCESS_MAX_START_DELAY)} ahead",
            field=name,
        )
    return max(value, now)


def _suggested_reviewers(
    requester: AbstractBaseUser, asked: list[str], items: _ItemRules
) -> list[str]:
    User = get_user_model()
    known = set(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": asked}).values_list(
            User.USERNAME_FIELD, flat=True
        )
    )
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise Unprocessable(
            f"unknown suggested reviewer(s): {', '.join(unknown)}", field="suggested_reviewers"
        )
    from_policy = [
        name
        for rule in items.all_rules
        for name in rule.allow_request.get("suggested_reviewers", [])
    ]
    names = dict.fromkeys([*asked, *from_policy])
    names.pop(requester.get_username(), None)
    return list(names)


def _annotations(items: _ItemRules) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for rule in items.all_rules:
        for key, values in rule.allow_request.get("annotations", {}).items():
            merged.setdefault(key, [])
            merged[key] += [v for v in values if v not in merged[key]]
    return merged


def _plan(
    requester: AbstractBaseUser,
    roles: Sequence[str] | None,
    resources: Sequence[str] | None,
    reason: str,
    max_duration: object,
    request_ttl: object,
    assume_start_time: datetime | None,
    suggested_reviewers: Iterable[str] | None,
    extends: AccessRequest | None,
    /,
) -> CreatePlan:
    """Check the input, resolve every item against the requester's policies, then the reason,
    durations, start time and suggested reviewers, in that order (the first refusal wins)."""
    now = timezone.now()
    roles = _string_list(roles, "roles", MAX_ROLES)
    resource_ids = _string_list(resources, "resources", MAX_RESOURCES)
    asked_reviewers = _string_list(suggested_reviewers, "suggested_reviewers", 50)
    reason = clean_text(reason, field="reason")
    if not roles and not resource_ids:
        raise ValidationFailed("ask for at least one role or resource", field="roles")

    policies, subject = policies_and_subject(requester)
    items = _ItemRules()
    roles = _resolve_roles(subject, policies, roles, items)
    _resolve_resources(subject, resource_ids, items)

    required, prompt = items.reason_rule
    if required and not reason:
        hint = f" ({prompt})" if prompt else ""
        raise ReasonRequired(f"a reason is required for this request{hint}", field="reason")

    requested = _duration(
        max_duration, "max_duration", settings.ACCESS_DEFAULT_DURATION, settings.ACCESS_MAX_DURATION
    )
    ttl = _duration(
        request_ttl,
        "request_ttl",
        settings.ACCESS_DEFAULT_REQUEST_TTL,
        settings.ACCESS_MAX_REQUEST_TTL,
    )
    start = validate_start_time(assume_start_time, now, "assume_start_time")
    return CreatePlan(
        requester=requester,
        now=now,
        policies=policies,
        items=items,
        roles=roles,
        resource_ids=resource_ids,
        reason=reason,
        requested=requested,
        ttl=ttl,
        start=start,
        suggested_reviewers=_suggested_reviewers(requester, asked_reviewers, items),
        extends=extends,
    )


def _policy_snapshot(plan: CreatePlan) -> dict:
    """What the request keeps of the policy that judged it (invariant 8): the capped duration,
    thresholds, review roles, reason rule and annotations; later policy edits do not move it."""
    items = plan.items
    required, prompt = items.reason_rule
    return {
        "max_duration": items.approved_duration(plan.requested),
        "annotations": _annotations(items),
        "policy": {
            "thresholds": items.book.thresholds,
            "sets": items.book.sets,
            "review_roles": items.review_roles,
            "reason_required": required,
            "reason_prompt": prompt,
            # Sorted by when they fire; `services.escalation` sends each once.
            "reminders": sorted(items.reminders, key=lambda t: (t["after"], t["notify"])),
        },
    }


def _unsaved_request(plan: CreatePlan) -> AccessRequest:
    """The request the plan describes, with its policy snapshot; not saved."""
    snapshot = _policy_snapshot(plan)
    tiers = snapshot["policy"]["reminders"]
    return AccessRequest(
        reminder_due=plan.now + timedelta(seconds=tiers[0]["after"]) if tiers else None,
        user=plan.requester,
        roles=plan.roles,
        resources=plan.resource_ids,
        reason=plan.reason,
        created=plan.now,
        expires=plan.now + timedelta(seconds=plan.ttl),
        requested_duration=plan.requested,
        assume_start_time=plan.start,
        extends=plan.extends,
        suggested_reviewers=plan.suggested_reviewers,
        **snapshot,
    )


def _write(request: AccessRequest, policies: PolicySet, *, notify: bool = True) -> None:
    """Insert the request, then its reviewer profiles' permissions and notification, the
    audit event last; its expiry is queued for after the commit. `notify` False: no
    `request.created` message (a break-glass use, approved at once, says so in its own)."""
    request.save(force_insert=True)
    # Reviewers can see and review it as soon as it commits: the rows (one per eligible
    # reviewer profile, not per reviewer) are written here, before the audit event, which
    # takes the chain head (the one global lock) last.
    request_permissions_create(request, policies=policies)
    if notify:
        outbox_enqueue(
            event="request.created",
            request_id=request.id,
            # Eligible reviewers are added when the message is routed (outbox_route), after
            # commit: their number must not weigh on this transaction.
            recipients=request.suggested_reviewers,
            payload=request_payload(request),
        )
    audit_record(
        action=AuditAction.REQUEST_CREATED,
        target_type="access_request",
        target_id=str(request.id),
        actor=request.user,
        data={
            "roles": request.roles,
            "resources": request.resources,
            "reason": request.reason,
            "requested_duration": request.requested_duration,
            "max_duration": request.max_duration,
            "expires": request.expires,
            "assume_start_time": request.assume_start_time,
            "thresholds": request.policy["thresholds"],
            **({"extends": str(request.extends_id)} if request.extends_id else {}),
        },
    )
    request_schedule_expiry(request)
    observe.requests_entered(RequestState.PENDING, [request])


@retry_on_conflict
@transaction.atomic
def access_request_create(
    *,
    requester: AbstractBaseUser,
    roles: Sequence[str] | None = None,
    resources: Sequence[str] | None = None,
    reason: str = "",
    max_duration: object = None,
    request_ttl: object = None,
    assume_start_time: datetime | None = None,
    suggested_reviewers: Iterable[str] | None = None,
    dry_run: bool = False,
    extends: AccessRequest | None = None,
) -> AccessRequest:
    """Create a PENDING request, or with `dry_run` return the unsaved request it would be.

    Three steps in one transaction: plan (check the input against the requester's policies),
    snapshot (the policy the request keeps), write (rows, permissions, outbox, audit last).
    Raises ValidationFailed for bad input and NotAllowed when policy refuses an item.
    `extends` links an extension to the approved request it continues; callers go through
    `services.extensions.access_request_extend`, which checks that link.
    """
    # The arguments in the order of this signature (positional-only in `_plan`).
    plan = _plan(
        requester, roles, resources, reason, max_duration, request_ttl,
        assume_start_time, suggested_reviewers, extends,
    )  # fmt: skip
    request = _unsaved_request(plan)
    if dry_run:
        return request
    _write(request, plan.policies)
    remember_reviews(request, [])  # new: no reviews, not a break-glass use
    remember_no_break_glass(request)
    return request
