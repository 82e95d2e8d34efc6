"""What a notification says: subject, plain text, HTML, Slack text and webhook JSON.

Email bodies come from templates/notifications/<event>.txt and .html (each extends
_base.txt / _base.html); the one-line headline, used as the subject and by Slack, is here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.template.loader import select_template
from django.utils.dateparse import parse_datetime

from policies_app.durations import humanize_duration
from requests_app.models import NotificationDelivery, OutboxMessage

HEADLINES = {
    "request.created": "{user} requests {items}",
    "request.approved": "{user}'s request for {items} was approved",
    "request.denied": "{user}'s request for {items} was denied",
    "request.expired": "{user}'s request for {items} expired before anyone resolved it",
    "request.reminder": "Waiting for review: {user}'s request for {items}",
    "access.started": "{user}'s access to {items} has started",
    "access.refused": "{user}'s scheduled access to {items} was not started",
    "access.ending_soon": "{user}'s access to {items} ends soon",
    "access.ended": "{user}'s access to {items} has ended",
    "access.revoked": "{user}'s access to {items} was revoked",
    "provision.failed": "Provisioning {user}'s access to {items} failed",
    "break_glass.opened": "Break glass: {user} took {items} now, awaiting ratification",
    "break_glass.ratified": "{user}'s break-glass access to {items} was ratified",
    "break_glass.rejected": "{user}'s break-glass access to {items} was rejected",
    # Access reviews (services/access_reviews.py): no request; the body names the review
    # and its deadline.
    "access_review.started": "Access review: standing roles wait for your decision",
    "access_review.reminder": "Access review: your decisions are due soon",
    "access_review.missed": "Access review closed with memberships nobody decided",
}


PAST_TENSE = {"break_glass.ratified": "Ratified", "break_glass.rejected": "Rejected"}


def _when(value: object) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


def message_context(message: OutboxMessage) -> dict:
    """Template variables of one message: the payload, filled in from the request row."""
    payload = dict(message.payload or {})
    request = message.request
    user = payload.get("user") or (request.user.get_username() if request else "")
    roles = payload.get("roles", list(request.roles) if request else [])
    resources = payload.get("resources", list(request.resources) if request else [])
    items = ", ".join([*roles, *resources]) or "access"
    request_id = payload.get("request_id") or (str(request.id) if request else "")
    # From the payload only: it says what was true when the event happened.
    expires = _when(payload.get("access_expires") or payload.get("expired"))
    headline = HEADLINES.get(message.event, "{user}: {event} ({items})").format(
        user=user, items=items, event=message.event
    )
    return {
        "event": message.event,
        "headline": headline,
        "user": user,
        "roles": roles,
        "resources": resources,
        "items": items,
        "reason": payload.get("reason", request.reason if request else ""),
        "resolve_reason": payload.get("resolve_reason", ""),
        "revoke_reason": payload.get("revoke_reason", ""),
        "revoked_by": payload.get("revoked_by", ""),
        "refused": payload.get("refused", {}),
        "access_starts": _when(payload.get("access_starts")),
        "access_expires": expires,
        "request_id": request_id,
        "url": settings.NOTIFY_REQUEST_URL.format(id=request_id) if request_id else "",
        "payload": payload,
        # Break-glass: the ratification deadline, the window ratifying gives, the verdict.
        "ratify_by": _when(payload.get("ratify_by")),
        "window_expires": _when(payload.get("window_expires")),
        "decided_by": payload.get("decided_by", ""),
        "decision_reason": payload.get("decision_reason", ""),
        "revoked_at": _when(payload.get("revoked_at")),
        # A reminder tier: how long the request had waited when it fired.
        "waited": humanize_duration(payload["after"])
        if isinstance(payload.get("after"), int)
        else "",
    }


@dataclass(frozen=True)
class Email:
    subject: str
    text: str
    html: str


def render_email(message: OutboxMessage, *, recipient: str = "", review_link: str = "") -> Email:
    """`review_link`: the recipient's one-time link to approve or deny (services.review_links)."""
    context = {**message_context(message), "recipient": recipient, "review_link": review_link}
    names = [f"notifications/{message.event}", "notifications/default"]
    text = select_template([f"{n}.txt" for n in names]).render(context)
    html = select_template([f"{n}.html" for n in names]).render(context)
    subject = f"{settings.EMAIL_SUBJECT_PREFIX} {context['headline']}"
    return Email(" ".join(subject.split()), text.strip() + "\n", html)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_slack(message: OutboxMessage) -> dict:
    """A Slack-compatible incoming-webhook body (also accepted by Mattermost, Rocket.Chat)."""
    ctx = message_context(message)
    lines = [f"*{_slack_escape(ctx['headline'])}*"]
    if ctx["waited"]:
        lines.append(f"Waiting for review for {ctx['waited']}")
    if ctx["reason"]:
        lines.append(f"Reason: {_slack_escape(ctx['reason'])}")
    for key, label in (("resolve_reason", "Decision"), ("revoke_reason", "Revoked because")):
        if ctx[key]:
            lines.append(f"{label}: {_slack_escape(ctx[key])}")
    if ctx["ratify_by"] and message.event == "break_glass.opened":
        lines.append(
            f"Ratify or reject by {ctx['ratify_by']:%Y-%m-%d %H:%M} UTC (unratified, access "
            f"ends then)"
        )
    if ctx["decided_by"]:
        lines.append(
            f"{PAST_TENSE.get(message.event, 'Decided')} by {_slack_escape(ctx['decided_by'])}: "
            f"{_slack_escape(ctx['decision_reason'])}"
        )
    if message.event == "break_glass.rejected":
        lines.append(
            f"Access revoked {ctx['revoked_at']:%Y-%m-%d %H:%M} UTC"
            if ctx["revoked_at"]
            else "Access had already ended"
        )
    for target, why in ctx["refused"].items():
        lines.append(f"Not started: {_slack_escape(target)}: {_slack_escape(why)}")
    if ctx["access_expires"] and message.event.startswith("access."):
        lines.append(f"Access ends {ctx['access_expires']:%Y-%m-%d %H:%M} UTC")
    if ctx["url"]:
        lines.append(f"<{ctx['url']}|Open the request>")
    return {"text": "\n".join(lines)}


def webhook_body(delivery: NotificationDelivery, message: OutboxMessage) -> bytes:
    """The JSON body of a signed webhook (docs/notifications.md describes it)."""
    ctx = message_context(message)
    body = {
        "delivery_id": str(delivery.id),
        "message_id": message.pk,
        "event": message.event,
        "created": message.created,
        "headline": ctx["headline"],
        "request_id": ctx["request_id"] or None,
        "recipients": list(message.recipients),
        "data": ctx["payload"],
    }
    return json.dumps(body, cls=DjangoJSONEncoder, sort_keys=True).encode()
