"""Who gets an outbox message, and how: the people it concerns, plus notification rules.

The people a service addressed (reviewers of a new request, the requester of a decision or
of access starting, ending or revoked) get an email at their account's address unless
NOTIFY_EMAIL_USERS is off. Each notification rule (policies_app.NotificationRule) whose
events and condition match adds its channels.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model

from accessportal.kernel.choices import NotificationChannel
from policies_app.matching import matches_any
from policies_app.models import NotificationRule
from policies_app.predicates import PredicateError, parse
from requests_app.models import OutboxMessage
from requests_app.selectors import request_context
from requests_app.services.escalation import EVENT as REMINDER_EVENT
from requests_app.services.escalation import reminder_channels

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    channel: str
    target: str
    rule: str = ""
    options: dict = field(default_factory=dict)


def predicate_context(message: OutboxMessage) -> dict:
    """The `request.*` variables of a rule's condition (scope "notification")."""
    request = message.request
    if request is None:
        return {"request": {}}
    return {
        "request": {
            **request_context(request),
            "user": request.user.get_username(),
            "resources": list(request.resources),
        }
    }


def rule_matches(rule: NotificationRule, message: OutboxMessage, ctx: dict) -> bool:
    events = rule.spec.get("events") or []
    if events and not matches_any(events, message.event):
        return False
    condition = rule.spec.get("condition") or ""
    if not condition:
        return True
    try:
        return parse(condition, scope="notification").evaluate(ctx)
    except PredicateError:
        # Rules are checked when saved; a stored rule that no longer parses is skipped loudly.
        logger.error("notification rule %s has an invalid condition; skipped", rule.name)
        return False


def _emails(names: list[str]) -> dict[str, str]:
    User = get_user_model()
    rows = User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names}, is_active=True).exclude(
        email=""
    )
    return {u.get_username(): u.email for u in rows}


def _rule_routes(rule: NotificationRule) -> list[Route]:
    routes: list[Route] = []
    for channel in rule.spec.get("channels", []):
        kind = channel.get("type")
        if kind == NotificationChannel.EMAIL:
            to = channel.get("to", [])
            emails = _emails([t for t in to if "@" not in t])
            for entry in to:
                address = entry if "@" in entry else emails.get(entry)
                if address:
                    options = {} if "@" in entry else {"username": entry}
                    routes.append(Route(kind, address, rule.name, options))
        elif kind in (NotificationChannel.SLACK, NotificationChannel.WEBHOOK):
            target = channel.get("url") or f"env:{channel.get('url_env', '')}"
            options = {"secret_env": channel["secret_env"]} if "secret_env" in channel else {}
            routes.append(Route(kind, target, rule.name, options))
    return routes


def routes_for(message: OutboxMessage) -> list[Route]:
    """Every destination of `message`, each once (the first rule naming it wins)."""
    routes: list[Route] = []
    if settings.NOTIFY_EMAIL_USERS:
        emails = _emails(list(message.recipients))
        routes += [
            Route(NotificationChannel.EMAIL, emails[name], options={"username": name})
            for name in message.recipients
            if name in emails
        ]
    ctx = predicate_context(message)
    # Rules a message names itself add their channels whatever their events and condition
    # say: a reminder tier's "#rule" (requests_app.services.escalation) and a break-glass
    # policy's `notify` (requests_app.services.break_glass).
    payload = message.payload or {}
    named = set(payload.get("notify_rules") or [])
    if message.event == REMINDER_EVENT:
        named |= set(reminder_channels(payload))
    for rule in NotificationRule.objects.order_by("name"):
        if rule.name in named or rule_matches(rule, message, ctx):
            routes += _rule_routes(rule)
    unique: dict[tuple[str, str], Route] = {}
    for route in routes:
        unique.setdefault((route.channel, route.target.lower()), route)
    return list(unique.values())
