"""What a user may request: roles and resources, each with its cap and reason rule.

Read-only selectors for the portal and the API, computed from the user's *standing* roles.
`request_rule` is the one per-item rule for caps and reasons: the create service
(`requests_app.services.access_requests`) applies it to every item it is asked for, so what
is shown here is what a request gets (and a request is always checked again when made).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from policies_app.engine import PolicySet, RolePolicy, Subject
from policies_app.matching import matches_any
from policies_app.models import Resource, Role
from policies_app.selectors import resource_ref, subject_for

RESOURCE_SEARCH_LIMIT = 50


@dataclass(frozen=True)
class RequestRule:
    """What the rules allowing one item say: the cap on access time and the reason rule."""

    max_duration: int
    reason_required: bool
    reason_prompt: str
    # Break-glass: the shortest `ratify_within` of the allowing rules when every one of them
    # allows it (None: some allowing rule does not, or the item is a resource), and every
    # `notify` name they list.
    break_glass_within: int | None = None
    break_glass_notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestableRole:
    name: str
    description: str
    rule: RequestRule


@dataclass(frozen=True)
class RequestableResource:
    resource_id: str
    kind: str
    name: str
    labels: Mapping[str, str]
    description: str
    rule: RequestRule


def request_rule(
    subject: Subject, rules: list[RolePolicy], via: list[str], *, resource: bool = False
) -> RequestRule:
    """Cap: the largest max_duration among the allowing `rules` (a rule without one allows the
    default); reason: `Subject.reason_rule` for the roles `via` which the item is requested
    (the role itself, or the search-as roles that reach a resource).

    Break-glass only where *every* allowing rule allows it: each allowing role adds its
    thresholds (all must pass), so one role's break-glass must not skip another's review.
    Roles only: a `resource` (reached through `search_as_roles`) is never break-glass."""
    default = settings.ACCESS_DEFAULT_DURATION
    cap = max((r.allow_request.get("max_duration") or default for r in rules), default=default)
    required, prompt = subject.reason_rule(via)
    glass = [r.allow_request.get("break_glass") for r in rules]
    if resource or not glass or not all(glass):
        glass = []
    return RequestRule(
        max_duration=cap,
        reason_required=required,
        reason_prompt=prompt,
        break_glass_within=min((g["ratify_within"] for g in glass), default=None),
        break_glass_notify=tuple(dict.fromkeys(n for g in glass for n in g.get("notify", []))),
    )


def requestable_roles(
    user: AbstractBaseUser, *, policies: PolicySet | None = None
) -> list[RequestableRole]:
    """Roles `user` may request (allowed, not denied, not already held), by name."""
    subject = subject_for(user, policies)
    names = subject.requestable_roles
    descriptions = dict(Role.objects.filter(name__in=names).values_list("name", "description"))
    return [
        RequestableRole(
            name=name,
            description=descriptions.get(name, ""),
            rule=request_rule(subject, subject.role_request_rules(name), [name]),
        )
        for name in names
    ]


def parse_label_filter(text: str) -> dict[str, str]:
    """`"env=prod team=pay"` (spaces or commas between pairs) -> {"env": "prod", "team": "pay"}.

    Raises ValueError with a message for people when a pair is not `key=value`.
    """
    labels: dict[str, str] = {}
    for pair in text.replace(",", " ").split():
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"{pair!r} is not a label filter: write key=value, e.g. env=prod")
        labels[key] = value
    return labels


def resource_kinds_requestable(
    user: AbstractBaseUser, *, policies: PolicySet | None = None
) -> list[str]:
    """Kinds of the stored resources that some search-as role of `user` could reach."""
    subject = subject_for(user, policies)
    patterns = [
        kind
        for role in subject.search_as_roles
        for kind in role.spec.get("allow", {}).get("resources", {}).get("kinds", [])
    ]
    if not patterns:
        return []
    kinds = Resource.objects.order_by("kind").values_list("kind", flat=True).distinct()
    return [kind for kind in kinds if matches_any(patterns, kind)]


def requestable_resources(
    user: AbstractBaseUser,
    *,
    kind: str = "",
    search: str = "",
    labels: Mapping[str, str] | None = None,
    ids: list[str] | None = None,
    limit: int = RESOURCE_SEARCH_LIMIT,
    policies: PolicySet | None = None,
) -> list[RequestableResource]:
    """Resources `user` may request, narrowed by kind, a name fragment, exact label values
    and/or exact ids; at most `limit`, ordered by kind and name.

    The database narrows by the filters; policy (search-as roles reaching the resource) is
    checked per row, so unknown and forbidden resources are alike absent.
    """
    subject = subject_for(user, policies)
    if not subject.can_search_resources:
        return []
    queryset = Resource.objects.order_by("kind", "name")
    if kind:
        queryset = queryset.filter(kind=kind)
    if search:
        queryset = queryset.filter(name__icontains=search.strip())
    if ids is not None:
        query = Q(pk__in=[])
        for rid in ids:
            k, _, n = rid.partition("/")
            query |= Q(kind=k, name=n)
        queryset = queryset.filter(query)
    for i, (key, value) in enumerate((labels or {}).items()):
        # KeyTextTransform takes the key verbatim: a label called "contains" stays a key.
        alias = f"_label_{i}"
        label = Cast(KeyTextTransform(key, "labels"), TextField())
        queryset = queryset.alias(**{alias: label}).filter(**{alias: value})
    found: list[RequestableResource] = []
    for resource in queryset.iterator(chunk_size=500):
        rules, reaching = subject.resource_request_rules(resource_ref(resource))
        if not rules:
            continue
        found.append(
            RequestableResource(
                resource_id=resource.resource_id,
                kind=resource.kind,
                name=resource.name,
                labels=dict(resource.labels or {}),
                description=resource.description,
                rule=request_rule(subject, rules, reaching, resource=True),
            )
        )
        if len(found) >= limit:
            break
    return found
