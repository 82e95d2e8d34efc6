"""`kind: notification_rule` documents: events, a condition on the request, channels."""

from __future__ import annotations

from typing import Any

from accessportal.kernel.choices import NotificationChannel, NotificationEvent
from accessportal.kernel.outbound import ENV_NAME_RE, http_url_problem
from policies_app.documents.checker import Checker, Problem
from policies_app.matching import matches

MAX_CHANNELS = 20


def _channel(check: Checker, raw: Any, field: str) -> dict:
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
        problem = http_url_problem(url, https_unless_loopback=True)
        if problem:
            check.add(f"{field}.url", problem)
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
    check = Checker()
    doc = check.mapping(
        doc, "notification_rule", {"kind", "name", "description", "spec", "version"}
    )
    name = check.name(doc.get("name"), "rule")
    description = check.text(doc.get("description"), "description")
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
