"""Validation and normalization of policy documents (role, user, resource,
notification_rule).

Pure functions: a document in, a normalized dict and a list of problems out. The loader,
the admin forms and the tests all go through these, so a policy is checked the same way
wherever it comes from. Unknown keys are errors: a typo in a security policy must not pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from policies_app.durations import DurationError, format_duration, parse_duration
from policies_app.matching import matches, validate_pattern
from policies_app.predicates import PredicateError, parse
from requests_app.choices import NotificationChannel, NotificationEvent

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$")
KIND_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,254}$")
PERMISSION_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
REASON_MODES = ("optional", "required")
REQUEST_ACCESS = ("optional", "reason", "always")
MAX_THRESHOLDS = 50
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
MAX_CHANNELS = 20
MAX_EMAIL = 254  # the user model's email column


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a dotted path) and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, f"must be a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in allowed:
                self.add(f"{field}.{key}", f"unknown field (allowed: {', '.join(sorted(allowed))})")
        return value

    def string_list(self, value: Any, field: str, *, pattern: bool = False) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.add(field, "must be a list of strings")
            return []
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                self.add(f"{field}[{i}]", "must be a non-empty string")
                continue
            if pattern and (error := validate_pattern(item)):
                self.add(f"{field}[{i}]", error)
                continue
            if item not in out:
                out.append(item)
        return out

    def predicate(self, value: Any, field: str, scope: str) -> str:
        if value in (None, ""):
            return ""
        if not isinstance(value, str):
            self.add(field, "must be a string expression")
            return ""
        try:
            parse(value, scope=scope)
        except PredicateError as err:
            self.add(field, str(err))
        return value

    def count(self, value: Any, field: str) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1000:
            self.add(field, "must be a whole number from 0 to 1000")
            return 0
        return value

    def labels(self, value: Any, field: str, *, multi: bool) -> dict:
        """Resource labels (`{k: v}`) or label selectors (`{k: [v, ...]}`)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, "must be a mapping of label names to values")
            return {}
        out: dict = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                self.add(field, f"label name {key!r} must be a non-empty string")
                continue
            if multi:
                out[key] = self.string_list(item, f"{field}.{key}", pattern=True)
            elif isinstance(item, str | int | float) and not isinstance(item, bool):
                out[key] = str(item)
            else:
                self.add(f"{field}.{key}", "must be a string")
        return out


def _duration(check: _Checker, value: Any, field: str, ceiling: int) -> int | None:
    if value in (None, ""):
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as err:
        check.add(field, str(err))
        return None
    if seconds > ceiling:
        check.add(field, f"at most {format_duration(ceiling)}")
        return None
    return seconds


def _request_conditions(check: _Checker, raw: Any, field: str, *, allow: bool) -> dict:
    allowed = {"roles", "search_as_roles"}
    if allow:
        allowed |= {
            "thresholds",
            "suggested_reviewers",
            "max_duration",
            "reason",
            "annotations",
        }
    raw = check.mapping(raw, field, allowed)
    out: dict = {
        "roles": check.string_list(raw.get("roles"), f"{field}.roles", pattern=True),
        "search_as_roles": check.string_list(
            raw.get("search_as_roles"), f"{field}.search_as_roles", pattern=True
        ),
    }
    if not allow:
        return out
    thresholds = raw.get("thresholds") or []
    if not isinstance(thresholds, list):
        check.add(f"{field}.thresholds", "must be a list")
        thresholds = []
    if len(thresholds) > MAX_THRESHOLDS:
        check.add(f"{field}.thresholds", f"at most {MAX_THRESHOLDS} thresholds")
        thresholds = []
    out["thresholds"] = []
    for i, item in enumerate(thresholds):
        where = f"{field}.thresholds[{i}]"
        item = check.mapping(item, where, {"name", "filter", "approve", "deny"})
        name = item.get("name", "")
        if not isinstance(name, str):
            check.add(f"{where}.name", "must be a string")
            name = ""
        out["thresholds"].append(
            {
                "name": name,
                "filter": check.predicate(item.get("filter"), f"{where}.filter", "filter"),
                "approve": check.count(item.get("approve"), f"{where}.approve"),
                "deny": check.count(item.get("deny"), f"{where}.deny"),
            }
        )
    out["suggested_reviewers"] = check.string_list(
        raw.get("suggested_reviewers"), f"{field}.suggested_reviewers"
    )
    out["max_duration"] = _duration(
        check, raw.get("max_duration"), f"{field}.max_duration", settings.ACCESS_MAX_DURATION
    )
    reason = check.mapping(raw.get("reason"), f"{field}.reason", {"mode", "prompt"})
    mode = reason.get("mode", "optional") or "optional"
    if mode not in REASON_MODES:
        check.add(f"{field}.reason.mode", f"must be one of {', '.join(REASON_MODES)}")
        mode = "optional"
    prompt = reason.get("prompt", "") or ""
    if not isinstance(prompt, str):
        check.add(f"{field}.reason.prompt", "must be a string")
        prompt = ""
    out["reason"] = {"mode": mode, "prompt": prompt}
    annotations = raw.get("annotations") or {}
    if not isinstance(annotations, dict):
        check.add(f"{field}.annotations", "must be a mapping of names to lists of strings")
        annotations = {}
    out["annotations"] = {
        str(k): check.string_list(v, f"{field}.annotations.{k}") for k, v in annotations.items()
    }
    return out


def _review_conditions(check: _Checker, raw: Any, field: str) -> dict:
    raw = check.mapping(raw, field, {"roles", "where"})
    return {
        "roles": check.string_list(raw.get("roles"), f"{field}.roles", pattern=True),
        "where": check.predicate(raw.get("where"), f"{field}.where", "where"),
    }


def normalize_role(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: role` document; return ({name, description, spec}, problems)."""
    check = _Checker()
    doc = check.mapping(doc, "role", {"kind", "name", "description", "spec", "version"})
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        check.add("name", "a role name is 1-100 letters, digits or _ . : @ - (no spaces)")
        name = str(name or "")
    description = doc.get("description") or ""
    if not isinstance(description, str):
        check.add("description", "must be a string")
        description = ""
    spec = check.mapping(doc.get("spec"), "spec", {"allow", "deny", "options"})
    allow = check.mapping(
        spec.get("allow"),
        "spec.allow",
        {"request", "review_requests", "resources", "permissions"},
    )
    deny = check.mapping(spec.get("deny"), "spec.deny", {"request", "review_requests"})
    resources = check.mapping(allow.get("resources"), "spec.allow.resources", {"kinds", "labels"})
    options = check.mapping(spec.get("options"), "spec.options", {"request_access"})
    request_access = options.get("request_access", "optional") or "optional"
    if request_access not in REQUEST_ACCESS:
        check.add("spec.options.request_access", f"must be one of {', '.join(REQUEST_ACCESS)}")
        request_access = "optional"
    permissions = check.string_list(allow.get("permissions"), "spec.allow.permissions")
    for i, perm in enumerate(permissions):
        if not PERMISSION_RE.match(perm):
            check.add(f"spec.allow.permissions[{i}]", f"{perm!r} is not app_label.codename")
    normalized = {
        "allow": {
            "request": _request_conditions(
                check, allow.get("request"), "spec.allow.request", allow=True
            ),
            "review_requests": _review_conditions(
                check, allow.get("review_requests"), "spec.allow.review_requests"
            ),
            "resources": {
                "kinds": check.string_list(
                    resources.get("kinds"), "spec.allow.resources.kinds", pattern=True
                ),
                "labels": check.labels(
                    resources.get("labels"), "spec.allow.resources.labels", multi=True
                ),
            },
            "permissions": permissions,
        },
        "deny": {
            "request": _request_conditions(
                check, deny.get("request"), "spec.deny.request", allow=False
            ),
            "review_requests": _review_conditions(
                check, deny.get("review_requests"), "spec.deny.review_requests"
            ),
        },
        "options": {"request_access": request_access},
    }
    return {"name": name, "description": description, "spec": normalized}, check.problems


def normalize_user(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: user` document: {name, roles, traits}."""
    check = _Checker()
    doc = check.mapping(doc, "user", {"kind", "name", "roles", "traits", "email", "version"})
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[\w.@+-]{1,150}", name):
        check.add("name", "a user name is 1-150 letters, digits or @ . + - _")
        name = str(name or "")
    email = doc.get("email") or ""
    if not isinstance(email, str):
        check.add("email", "must be a string")
        email = ""
    elif email:
        try:
            validate_email(email)
            if len(email) > MAX_EMAIL:
                raise ValidationError("too long")
        except ValidationError:
            check.add("email", f"must be an email address of at most {MAX_EMAIL} characters")
            email = ""
    roles = check.string_list(doc.get("roles"), "roles")
    for i, role in enumerate(roles):
        if not NAME_RE.match(role):
            check.add(f"roles[{i}]", f"{role!r} is not a role name")
    traits = check.labels(doc.get("traits"), "traits", multi=True)
    return {"name": name, "email": email, "roles": roles, "traits": traits}, check.problems


def normalize_resource(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: resource` document: {kind, name, labels, description}."""
    check = _Checker()
    doc = check.mapping(doc, "resource", {"kind", "id", "labels", "description", "version"})
    rid = doc.get("id")
    kind, _, name = rid.partition("/") if isinstance(rid, str) else ("", "", "")
    if not KIND_RE.match(kind) or not RESOURCE_NAME_RE.match(name):
        check.add("id", f"{rid!r} is not kind/name (e.g. node/db-prod-1)")
    description = doc.get("description") or ""
    if not isinstance(description, str):
        check.add("description", "must be a string")
        description = ""
    labels = check.labels(doc.get("labels"), "labels", multi=False)
    return (
        {"kind": kind, "name": name, "labels": labels, "description": description},
        check.problems,
    )


def _channel(check: _Checker, raw: Any, field: str) -> dict:
    """One channel of a notification rule; only the keys that were given are kept."""
    raw = check.mapping(raw, field, {"type", "to", "url", "url_env", "secret_env"})
    kind = raw.get("type")
    if kind not in NotificationChannel.values:
        check.add(f"{field}.type", f"must be one of {', '.join(NotificationChannel.values)}")
        return {}
    out: dict = {"type": kind}
    allowed = {"type", "to"} if kind == NotificationChannel.EMAIL else {"type", "url", "url_env"}
    if kind == NotificationChannel.WEBHOOK:
        allowed.add("secret_env")
    for key in sorted(set(raw) - allowed):
        check.add(f"{field}.{key}", f"not used by {kind} channels")
    if kind == NotificationChannel.EMAIL:
        to = check.string_list(raw.get("to"), f"{field}.to")
        if not to:
            check.add(f"{field}.to", "list the email addresses or user names to tell")
        out["to"] = to
        return out
    url, url_env = raw.get("url"), raw.get("url_env")
    if bool(url) == bool(url_env):
        check.add(field, "give exactly one of url or url_env (a variable holding the URL)")
    elif url:
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            check.add(f"{field}.url", "must be an http:// or https:// URL")
        out["url"] = url
    else:
        if not isinstance(url_env, str) or not ENV_NAME_RE.match(url_env):
            check.add(f"{field}.url_env", "must be an environment variable name (A-Z, 0-9, _)")
        out["url_env"] = url_env
    if kind == NotificationChannel.WEBHOOK:
        secret_env = raw.get("secret_env")
        if not isinstance(secret_env, str) or not ENV_NAME_RE.match(secret_env):
            check.add(
                f"{field}.secret_env",
                "name the environment variable holding the signing secret (A-Z, 0-9, _); "
                "secrets never go into policy files",
            )
        out["secret_env"] = secret_env if isinstance(secret_env, str) else ""
    return out


def normalize_notification_rule(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: notification_rule` document: {name, description, spec}.

    spec: `events` (names or globs; omitted means every event), `condition` (a predicate on
    the request, scope "notification") and `channels` (at least one).
    """
    check = _Checker()
    doc = check.mapping(
        doc, "notification_rule", {"kind", "name", "description", "spec", "version"}
    )
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        check.add("name", "a rule name is 1-100 letters, digits or _ . : @ - (no spaces)")
        name = str(name or "")
    description = doc.get("description") or ""
    if not isinstance(description, str):
        check.add("description", "must be a string")
        description = ""
    spec = check.mapping(doc.get("spec"), "spec", {"events", "condition", "channels"})
    events = check.string_list(spec.get("events"), "spec.events", pattern=True)
    for i, event in enumerate(events):
        if not any(matches(event, known) for known in NotificationEvent.values):
            check.add(
                f"spec.events[{i}]",
                f"{event!r} matches no event (events: {', '.join(NotificationEvent.values)})",
            )
    channels = spec.get("channels")
    if not isinstance(channels, list) or not channels:
        check.add("spec.channels", "list at least one channel (email, slack or webhook)")
        channels = []
    if len(channels) > MAX_CHANNELS:
        check.add("spec.channels", f"at most {MAX_CHANNELS} channels")
        channels = []
    normalized = {
        "events": events,
        "condition": check.predicate(spec.get("condition"), "spec.condition", "notification"),
        "channels": [_channel(check, c, f"spec.channels[{i}]") for i, c in enumerate(channels)],
    }
    return {"name": name, "description": description, "spec": normalized}, check.problems


def export_notification_rule_spec(spec: dict) -> dict:
    """The normalized spec without empty defaults (inverse of normalize)."""
    out = {k: v for k, v in spec.items() if v not in ([], "", None)}
    out["channels"] = [
        {k: v for k, v in c.items() if v not in ([], "", None)} for c in spec["channels"]
    ]
    return out


def parse_resource_id(value: str) -> tuple[str, str] | None:
    """`kind/name` -> (kind, name), or None when it is not one."""
    if not isinstance(value, str):
        return None
    kind, _, name = value.partition("/")
    if KIND_RE.match(kind) and RESOURCE_NAME_RE.match(name):
        return kind, name
    return None


def export_role_spec(spec: dict) -> dict:
    """The normalized spec without defaults, for YAML people read (inverse of normalize)."""

    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v not in ({}, [], "", None)}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    spec = prune(spec)
    request = spec.get("allow", {}).get("request", {})
    if "max_duration" in request:
        request["max_duration"] = format_duration(request["max_duration"])
    if request.get("reason") == {"mode": "optional"}:
        del request["reason"]
    for threshold in request.get("thresholds", []):
        for key in ("approve", "deny"):
            if threshold.get(key) == 0:
                del threshold[key]
    if spec.get("options") == {"request_access": "optional"}:
        del spec["options"]
    return prune(spec)
