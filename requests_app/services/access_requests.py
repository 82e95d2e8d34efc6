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

from policies_app.catalog import RequestRule, request_rule
from policies_app.documents import parse_resource_id
from policies_app.durations import DurationError, format_duration, parse_duration
from policies_app.engine import PolicySet, RolePolicy, Subject
from policies_app.selectors import resource_ref, resources_by_id, subject_for
from requests_app.choices import AuditAction
from requests_app.errors import NotAllowed, ValidationFailed
from requests_app.models import AccessRequest
from requests_app.services.audit import audit_record
from requests_app.services.jobs import request_schedule_expiry
from requests_app.services.locking import retry_on_conflict
from requests_app.services.outbox import outbox_enqueue, request_payload
from requests_app.services.text import MAX_REASON as MAX_REASON  # re-exported
from requests_app.services.text import check_name, clean_text
from requests_app.services.thresholds import ThresholdBook
from requests_app.services.visibility import request_permissions_create

MAX_RESOURCES = 300
MAX_ROLES = 100
CLOCK_SKEW = timedelta(seconds=60)


@dataclass
class _Plan:
    """What the requester's policies say about the items they asked for."""

    book: ThresholdBook = field(default_factory=ThresholdBook)
    review_roles: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, list[RolePolicy]] = field(default_factory=dict)
    # Per item, its cap and reason rule: `catalog.request_rule`, the function the portal's
    # catalog shows, so what a user is shown is what the service applies.
    item_rules: dict[str, RequestRule] = field(default_factory=dict)

    def add(self, subject: Subject, item: str, rules: list[RolePolicy], via: list[str]) -> None:
        self.rules[item] = rules
        self.review_roles[item] = via
        self.item_rules[item] = request_rule(subject, rules, via)
        for rule in rules:
            self.book.add_set(item, rule.allow_request.get("thresholds", []))

    @property
    def reason_rule(self) -> tuple[bool, str]:
        """A reason is required if any item's rule requires one; the first item's prompt."""
        rules = self.item_rules.values()
        prompt = next((r.reason_prompt for r in rules if r.reason_prompt), "")
        return any(r.reason_required for r in rules), prompt

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


def _plan_roles(subject: Subject, policies: PolicySet, roles: list[str], plan: _Plan) -> list[str]:
    if "*" in roles:
        roles = [r for r in roles if r != "*"] + subject.requestable_roles
        roles = list(dict.fromkeys(roles))
        if not roles:
            raise NotAllowed("there is no role you may request", field="roles")
    held = set(subject.role_names)
    for role in roles:
        if role in held:
            raise ValidationFailed(f"you already hold the role {role!r}", field="roles")
        rules = subject.role_request_rules(role) if role in policies.roles else []
        if not rules:
            raise NotAllowed(
                f"you may not request the role {role!r} (it does not exist or no role of "
                f"yours allows requesting it)",
                field="roles",
            )
        plan.add(subject, f"role:{role}", rules, [role])
    return roles


def _plan_resources(subject: Subject, ids: list[str], plan: _Plan) -> None:
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
        plan.add(subject, f"resource:{rid}", rules, reaching)


def _duration(value: object, name: str, default: int, ceiling: int) -> int:
    if value in (None, ""):
        return default
    try:
        seconds = parse_duration(value)
    except DurationError as err:
        raise ValidationFailed(str(err), field=name) from None
    if seconds > ceiling:
        raise ValidationFailed(
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
        raise ValidationFailed(f"{name} is in the past", field=name)
    if value > now + timedelta(seconds=settings.ACCESS_MAX_START_DELAY):
        raise ValidationFailed(
            f"{name} may be at most {format_duration(settings.ACCESS_MAX_START_DELAY)} ahead",
            field=name,
        )
    return max(value, now)


def _suggested_reviewers(requester: AbstractBaseUser, asked: list[str], plan: _Plan) -> list[str]:
    User = get_user_model()
    known = set(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": asked}).values_list(
            User.USERNAME_FIELD, flat=True
        )
    )
    unknown = [name for name in asked if name not in known]
    if unknown:
        raise ValidationFailed(
            f"unknown suggested reviewer(s): {', '.join(unknown)}", field="suggested_reviewers"
        )
    from_policy = [
        name
        for rule in plan.all_rules
        for name in rule.allow_request.get("suggested_reviewers", [])
    ]
    names = dict.fromkeys([*asked, *from_policy])
    names.pop(requester.get_username(), None)
    return list(names)


def _annotations(plan: _Plan) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for rule in plan.all_rules:
        for key, values in rule.allow_request.get("annotations", {}).items():
            merged.setdefault(key, [])
            merged[key] += [v for v in values if v not in merged[key]]
    return merged


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

    Raises ValidationFailed for bad input and NotAllowed when policy refuses an item.
    `extends` links an extension to the approved request it continues; callers go through
    `services.extensions.access_request_extend`, which checks that link.
    """
    now = timezone.now()
    roles = _string_list(roles, "roles", MAX_ROLES)
    resource_ids = _string_list(resources, "resources", MAX_RESOURCES)
    asked_reviewers = _string_list(suggested_reviewers, "suggested_reviewers", 50)
    reason = clean_text(reason, field="reason")
    if not roles and not resource_ids:
        raise ValidationFailed("ask for at least one role or resource", field="roles")

    policies = PolicySet.load()
    subject = subject_for(requester, policies)
    plan = _Plan()
    roles = _plan_roles(subject, policies, roles, plan)
    _plan_resources(subject, resource_ids, plan)

    required, prompt = plan.reason_rule
    if required and not reason:
        hint = f" ({prompt})" if prompt else ""
        raise ValidationFailed(f"a reason is required for this request{hint}", field="reason")

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
    request = AccessRequest(
        user=requester,
        roles=roles,
        resources=resource_ids,
        reason=reason,
        created=now,
        expires=now + timedelta(seconds=ttl),
        requested_duration=requested,
        max_duration=plan.approved_duration(requested),
        assume_start_time=start,
        extends=extends,
        suggested_reviewers=_suggested_reviewers(requester, asked_reviewers, plan),
        annotations=_annotations(plan),
        policy={
            "thresholds": plan.book.thresholds,
            "sets": plan.book.sets,
            "review_roles": plan.review_roles,
            "reason_required": required,
            "reason_prompt": prompt,
        },
    )
    if dry_run:
        return request
    request.save(force_insert=True)
    # Reviewers can see and review it as soon as it commits: the rows (one per eligible
    # reviewer profile, not per reviewer) are written here, before the audit event, which
    # takes the chain head (the one global lock) last.
    request_permissions_create(request, policies=policies)
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
        actor=requester,
        data={
            "roles": roles,
            "resources": resource_ids,
            "reason": reason,
            "requested_duration": requested,
            "max_duration": request.max_duration,
            "expires": request.expires,
            "assume_start_time": start,
            "thresholds": plan.book.thresholds,
            **({"extends": str(extends.id)} if extends else {}),
        },
    )
    request_schedule_expiry(request)
    return request
