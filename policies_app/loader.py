"""Reading policy files: YAML documents in, a checked plan out, every problem named.

Nothing here writes; `policies_app.services.apply.policies_apply` applies a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from accessportal.kernel.storable import unstorable
from policies_app.documents import (
    normalize_access_review,
    normalize_notification_rule,
    normalize_oncall_schedule,
    normalize_resource,
    normalize_review_rule,
    normalize_role,
    normalize_sso_mapping,
    normalize_user,
    rule_schedules,
)
from policies_app.documents.provision import provision_conflicts, target_key
from policies_app.models import NotificationRule, OncallSchedule, ProvisionTarget, Role

MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass
class PolicyPlan:
    """The normalized documents of one or more files, by kind, in file order."""

    roles: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    notification_rules: list[dict] = field(default_factory=list)
    sso_mappings: list[dict] = field(default_factory=list)
    review_rules: list[dict] = field(default_factory=list)
    oncall_schedules: list[dict] = field(default_factory=list)
    access_reviews: list[dict] = field(default_factory=list)


class PolicyFileError(Exception):
    """Every problem found in the files; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _PolicyYAMLLoader(yaml.SafeLoader):
    """SafeLoader that reads timestamps as plain strings: policy files hold no dates, and
    PyYAML turns an impossible one (2024-02-30) into a ValueError rather than a YAML error."""


_PolicyYAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(source: str, text: str, problems: list[str]) -> list[tuple[str, Any]]:
    try:
        docs = list(yaml.load_all(text, Loader=_PolicyYAMLLoader))  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        problems.append(f"{source}:{where}: not valid YAML: {problem}")
        return []
    except RecursionError:
        problems.append(f"{source}: not valid YAML: nested too deeply")
        return []
    except Exception as err:  # noqa: BLE001
        # PyYAML's constructors raise plain ValueError, IndexError, TypeError... for tagged
        # values they cannot build (`!!float x`, `!!int ""`): still a file we cannot read.
        problems.append(f"{source}: not valid YAML: a value cannot be read ({err})")
        return []
    return [(f"{source}: document {i}", doc) for i, doc in enumerate(docs, 1) if doc is not None]


def plan_from_texts(texts: list[tuple[str, str]]) -> PolicyPlan:
    """Check (source name, YAML text) pairs; raise PolicyFileError listing every problem."""
    problems: list[str] = []
    plan = PolicyPlan()
    seen: dict[tuple[str, str], str] = {}
    for source, text in texts:
        for where, doc in _read(source, text, problems):
            if found := unstorable(doc):
                problems += [f"{where}: {p}" for p in found]
                continue
            kind = doc.get("kind") if isinstance(doc, dict) else None
            normalizer = (
                None
                if not isinstance(kind, str)
                else {
                    "role": normalize_role,
                    "user": normalize_user,
                    "resource": normalize_resource,
                    "notification_rule": normalize_notification_rule,
                    "sso_mapping": normalize_sso_mapping,
                    "review_rule": normalize_review_rule,
                    "oncall_schedule": normalize_oncall_schedule,
                    "access_review": normalize_access_review,
                }.get(kind)
            )
            if normalizer is None:
                problems.append(
                    f"{where}: kind: must be role, user, resource, notification_rule, "
                    f"sso_mapping, review_rule, oncall_schedule or access_review (got {kind!r})"
                )
                continue
            normalized, found = normalizer(doc)
            key = (
                normalized.get("name")
                if kind != "resource"
                else f"{normalized['kind']}/{normalized['name']}"
            )
            label = f"{where} ({kind} {key})"
            problems += [f"{label}: {p}" for p in found]
            if (kind, key) in seen:
                problems.append(f"{label}: defined twice (first in {seen[(kind, key)]})")
            seen[(kind, key)] = where
            if not found:
                getattr(plan, f"{kind}s").append({**normalized, "_where": label})
    _check_references(plan, problems)
    problems += provision_conflicts(
        [(r["_where"], "spec.provision", r["spec"].get("provision", [])) for r in plan.roles]
        + [(r["_where"], "provision", r["provision"]) for r in plan.resources],
        _stored_targets(plan),
    )
    if problems:
        raise PolicyFileError(problems)
    return plan


def _check_references(plan: PolicyPlan, problems: list[str]) -> None:
    """Roles named by users, SSO mappings and access reviewers exist (in the files or
    already stored); permissions exist."""
    known_roles = {r["name"] for r in plan.roles} | set(Role.objects.values_list("name", flat=True))
    for user in plan.users:
        for role in user["roles"]:
            if role not in known_roles:
                problems.append(f"{user['_where']}: roles: no role named {role!r}")
    for mapping in plan.sso_mappings:
        for i, rule in enumerate(mapping["spec"]["claims_to_roles"]):
            for role in rule["roles"]:
                if role not in known_roles:
                    problems.append(
                        f"{mapping['_where']}: spec.claims_to_roles[{i}].roles: "
                        f"no role named {role!r}"
                    )
    # A misspelt reviewer role would leave a review with nobody to decide it. (Reviewer user
    # names are not checked: a user signing in through SSO for the first time is created
    # then; a run whose reviewers resolve to nobody keeps its members, services/access_reviews.)
    for review in plan.access_reviews:
        for role in review["spec"].get("reviewer_roles", []):
            if role not in known_roles:
                problems.append(f"{review['_where']}: spec.reviewer_roles: no role named {role!r}")
    known_schedules = {s["name"] for s in plan.oncall_schedules} | set(
        OncallSchedule.objects.values_list("name", flat=True)
    )
    for rule in plan.review_rules:
        for name in rule_schedules(rule["spec"]["when"]):
            if name not in known_schedules:
                problems.append(
                    f"{rule['_where']}: spec.when: oncall({name!r}): no oncall_schedule named "
                    f"{name!r} (in the files or stored)"
                )
    _check_break_glass_notify(plan, problems)
    wanted = {p for r in plan.roles for p in r["spec"]["allow"]["permissions"]}
    existing = {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    for role in plan.roles:
        for perm in role["spec"]["allow"]["permissions"]:
            if perm in wanted - existing:
                problems.append(
                    f"{role['_where']}: spec.allow.permissions: no Django permission {perm!r}"
                )


def _check_break_glass_notify(plan: PolicyPlan, problems: list[str]) -> None:
    """Each `break_glass.notify` name is a notification rule or a user (in the files or
    stored): a misspelt name would send the security notice nowhere."""
    glass = [
        (role, g)
        for role in plan.roles
        if (g := role["spec"]["allow"].get("request", {}).get("break_glass"))
    ]
    names = {n for _, g in glass for n in g["notify"]}
    if not names:
        return
    known = {r["name"] for r in plan.notification_rules} | {u["name"] for u in plan.users}
    known |= set(NotificationRule.objects.filter(name__in=names).values_list("name", flat=True))
    User = get_user_model()
    known |= set(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}).values_list(
            User.USERNAME_FIELD, flat=True
        )
    )
    for role, g in glass:
        for i, name in enumerate(g["notify"]):
            if name not in known:
                problems.append(
                    f"{role['_where']}: spec.allow.request.break_glass.notify[{i}]: no "
                    f"notification_rule or user named {name!r} (in the files or stored)"
                )


def _stored_targets(plan: PolicyPlan) -> dict[str, tuple[bool, str, dict]]:
    """Live targets also named by stored roles or resources this plan does not redefine:
    key (recomputed: `target_key` of the stored settings) -> (managed, "role x", settings)."""
    roles = {r["name"] for r in plan.roles}
    resources = {f"{r['kind']}/{r['name']}" for r in plan.resources}
    out: dict[str, tuple[bool, str, dict]] = {}
    for provisioner, config, managed, named_roles, named_resources in (
        ProvisionTarget.objects.filter(retired_at=None)
        .order_by("id")
        .values_list("provisioner", "config", "managed", "roles", "resources")
    ):
        others = [f"role {n}" for n in named_roles if n not in roles]
        others += [f"resource {n}" for n in named_resources if n not in resources]
        if others:
            out.setdefault(target_key(provisioner, config), (managed, others[0], config))
    return out


def plan_provision_entries(plan: PolicyPlan) -> list[dict]:
    """Every `provision` entry the plan's roles and resources name, in file order."""
    return [e for r in plan.roles for e in r["spec"].get("provision", [])] + [
        e for r in plan.resources for e in r["provision"]
    ]


def plan_from_files(paths: list[str | Path]) -> PolicyPlan:
    texts: list[tuple[str, str]] = []
    problems: list[str] = []
    for path in map(Path, paths):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.append(f"{path}: larger than {MAX_FILE_BYTES // 1024 // 1024} MiB")
                continue
            texts.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"{path}: cannot be read: {err}")
    if problems:
        raise PolicyFileError(problems)
    return plan_from_texts(texts)
