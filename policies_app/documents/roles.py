"""`kind: role` documents: checked and normalized, and exported back without defaults."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

from policies_app.documents.checker import NAME_RE, Checker, Problem
from policies_app.documents.provision import export_provision, normalize_provision
from policies_app.documents.reminders import export_reminders, normalize_reminders
from policies_app.durations import DurationError, format_duration, parse_duration

PERMISSION_RE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
REASON_MODES = ("optional", "required")
REQUEST_ACCESS = ("optional", "reason", "always")
MAX_THRESHOLDS = 50
# Break-glass: how long the role's reviewers get to ratify emergency access (its access is
# capped at that deadline until they do), and how many names `notify` may list.
BREAK_GLASS_RATIFY_MIN = 5 * 60
BREAK_GLASS_RATIFY_MAX = 24 * 3600
BREAK_GLASS_MAX_NOTIFY = 20


def _duration(check: Checker, value: Any, field: str, ceiling: int) -> int | None:
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


def _request_conditions(check: Checker, raw: Any, field: str, *, allow: bool) -> dict:
    allowed = {"roles", "search_as_roles"}
    if allow:
        allowed |= {
            "thresholds",
            "suggested_reviewers",
            "max_duration",
            "reason",
            "annotations",
            "break_glass",
            "reminders",
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
    # Stored only when given, so the specs of roles without reminders stay as they were.
    if reminders := normalize_reminders(check, raw.get("reminders"), f"{field}.reminders"):
        out["reminders"] = reminders
    # Stored only when given, so the specs of roles without break-glass stay as they were.
    if break_glass := _break_glass(check, raw.get("break_glass"), f"{field}.break_glass"):
        out["break_glass"] = break_glass
    return out


def _break_glass(check: Checker, raw: Any, field: str) -> dict | None:
    """`break_glass: {ratify_within: 1h, notify: [security]}`: emergency access approved by
    the requester at once, capped at `ratify_within` unless the role's reviewers ratify it.
    `notify` names notification rules (their channels) or user names, as routing reads them."""
    if raw is None:
        return None
    raw = check.mapping(raw, field, {"ratify_within", "notify"})
    if raw.get("ratify_within") in (None, ""):
        check.add(f"{field}.ratify_within", "is required (how long reviewers have to ratify)")
        within = None
    else:
        within = _duration(
            check, raw.get("ratify_within"), f"{field}.ratify_within", BREAK_GLASS_RATIFY_MAX
        )
        if within is not None and within < BREAK_GLASS_RATIFY_MIN:
            check.add(
                f"{field}.ratify_within", f"at least {format_duration(BREAK_GLASS_RATIFY_MIN)}"
            )
            within = None
    notify = check.string_list(raw.get("notify"), f"{field}.notify")
    if len(notify) > BREAK_GLASS_MAX_NOTIFY:
        check.add(f"{field}.notify", f"at most {BREAK_GLASS_MAX_NOTIFY} names")
        notify = []
    for i, name in enumerate(notify):
        if not NAME_RE.match(name):
            check.add(
                f"{field}.notify[{i}]",
                f"{name!r} is not a notification rule or user name (letters, digits, _ . : @ -)",
            )
    return {"ratify_within": within or BREAK_GLASS_RATIFY_MIN, "notify": notify}


def _review_conditions(check: Checker, raw: Any, field: str) -> dict:
    raw = check.mapping(raw, field, {"roles", "where"})
    return {
        "roles": check.string_list(raw.get("roles"), f"{field}.roles", pattern=True),
        "where": check.predicate(raw.get("where"), f"{field}.where", "where"),
    }


def normalize_role(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: role` document; return ({name, description, spec}, problems)."""
    check = Checker()
    doc = check.mapping(doc, "role", {"kind", "name", "description", "spec", "version"})
    name = check.name(doc.get("name"), "role")
    description = check.text(doc.get("description"), "description")
    spec = check.mapping(doc.get("spec"), "spec", {"allow", "deny", "options", "provision"})
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
    # Stored only when given, so the specs of roles that provision nothing stay as they were.
    if provision := normalize_provision(check, spec.get("provision"), "spec.provision"):
        normalized["provision"] = provision
    return {"name": name, "description": description, "spec": normalized}, check.problems


def export_role_spec(spec: dict) -> dict:
    """The normalized spec without defaults, for YAML people read (inverse of normalize)."""

    def prune(value: Any) -> Any:
        if isinstance(value, dict):
            out = {k: prune(v) for k, v in value.items()}
            return {k: v for k, v in out.items() if v not in ({}, [], "", None)}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    provision = spec.get("provision") or []
    spec = prune({k: v for k, v in spec.items() if k != "provision"})
    request = spec.get("allow", {}).get("request", {})
    if "max_duration" in request:
        request["max_duration"] = format_duration(request["max_duration"])
    if "reminders" in request:
        request["reminders"] = export_reminders(request["reminders"])
    if "break_glass" in request:
        glass = request["break_glass"]
        glass["ratify_within"] = format_duration(glass["ratify_within"])
    if request.get("reason") == {"mode": "optional"}:
        del request["reason"]
    for threshold in request.get("thresholds", []):
        for key in ("approve", "deny"):
            if threshold.get(key) == 0:
                del threshold[key]
    if spec.get("options") == {"request_access": "optional"}:
        del spec["options"]
    spec = prune(spec)
    if provision:
        spec["provision"] = export_provision(provision)
    return spec
