"""Reading policy files: YAML documents in, a checked plan out, every problem named.

Nothing here writes; `policies_app.services.policies_apply` applies a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import Permission

from policies_app.documents import (
    normalize_notification_rule,
    normalize_resource,
    normalize_role,
    normalize_user,
)
from policies_app.models import Role

MAX_FILE_BYTES = 5 * 1024 * 1024


@dataclass
class PolicyPlan:
    """The normalized documents of one or more files, by kind, in file order."""

    roles: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)
    resources: list[dict] = field(default_factory=list)
    notification_rules: list[dict] = field(default_factory=list)


class PolicyFileError(Exception):
    """Every problem found in the files; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _read(source: str, text: str, problems: list[str]) -> list[tuple[str, Any]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        problems.append(f"{source}:{where}: not valid YAML: {problem}")
        return []
    return [(f"{source}: document {i}", doc) for i, doc in enumerate(docs, 1) if doc is not None]


def plan_from_texts(texts: list[tuple[str, str]]) -> PolicyPlan:
    """Check (source name, YAML text) pairs; raise PolicyFileError listing every problem."""
    problems: list[str] = []
    plan = PolicyPlan()
    seen: dict[tuple[str, str], str] = {}
    for source, text in texts:
        for where, doc in _read(source, text, problems):
            kind = doc.get("kind") if isinstance(doc, dict) else None
            normalizer = {
                "role": normalize_role,
                "user": normalize_user,
                "resource": normalize_resource,
                "notification_rule": normalize_notification_rule,
            }.get(kind)
            if normalizer is None:
                problems.append(
                    f"{where}: kind: must be role, user, resource or notification_rule "
                    f"(got {kind!r})"
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
    if problems:
        raise PolicyFileError(problems)
    return plan


def _check_references(plan: PolicyPlan, problems: list[str]) -> None:
    """Roles named by users exist (in the files or already stored); permissions exist."""
    known_roles = {r["name"] for r in plan.roles} | set(Role.objects.values_list("name", flat=True))
    for user in plan.users:
        for role in user["roles"]:
            if role not in known_roles:
                problems.append(f"{user['_where']}: roles: no role named {role!r}")
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
