"""Sending one delivery: email through Django's backend, webhooks with urllib and a timeout.

Every failure is a DeliveryError; `permanent` ones (a refused address, a 4xx answer, a
missing secret) go straight to the dead letters instead of being retried.
"""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from accessportal.kernel import outbound, signing
from accessportal.kernel.choices import NotificationChannel
from requests_app.models import NotificationDelivery, OutboxMessage
from requests_app.notifications.rendering import render_email, render_slack, webhook_body
from requests_app.services.review_links import review_link_for_email

USER_AGENT = "AccessPortal-Notifier/1"
# Answers worth retrying; any other 4xx means the request itself is wrong.
_RETRYABLE_4XX = {408, 409, 425, 429}


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise DeliveryError(f"the environment variable {name} ({what}) is not set", permanent=True)
    return value


def resolve_url(target: str) -> str:
    """A delivery's target is a URL, or `env:NAME` for a URL kept in the environment."""
    if not target.startswith("env:"):
        return target  # checked when the policy was loaded
    url = _env(target[4:], "the webhook URL")
    if problem := outbound.http_url_problem(url, https_unless_loopback=True):
        raise DeliveryError(f"the webhook URL in {target[4:]} {problem}", permanent=True)
    return url


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST `body`; returns the 2xx status or raises DeliveryError."""
    try:
        answer = outbound.http_post(
            url, body, {"User-Agent": USER_AGENT, **headers}, timeout=settings.NOTIFY_HTTP_TIMEOUT
        )
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise DeliveryError(f"could not reach the webhook: {reason}") from None
    if not 200 <= answer.status < 300:
        permanent = 300 <= answer.status < 500 and answer.status not in _RETRYABLE_4XX
        raise DeliveryError(f"HTTP {answer.status} {answer.reason}", permanent=permanent)
    return answer.status


def send_email(delivery: NotificationDelivery, message: OutboxMessage) -> None:
    username = delivery.options.get("username", "")
    # A reviewer's own email carries their one-time review link (never a chat channel's).
    link = review_link_for_email(message=message, username=username)
    email = render_email(message, recipient=username, review_link=link)
    mail = EmailMultiAlternatives(
        email.subject, email.text, settings.DEFAULT_FROM_EMAIL, [delivery.target]
    )
    mail.attach_alternative(email.html, "text/html")
    try:
        mail.send()
    except smtplib.SMTPRecipientsRefused as err:
        raise DeliveryError(
            f"the mail server refused {delivery.target}: {err}", permanent=True
        ) from None
    except (smtplib.SMTPException, OSError) as err:
        raise DeliveryError(f"could not send email: {err}") from None


def send_slack(delivery: NotificationDelivery, message: OutboxMessage) -> None:
    body = json.dumps(render_slack(message)).encode()
    post(resolve_url(delivery.target), body, {})


def send_webhook(delivery: NotificationDelivery, message: OutboxMessage) -> None:
    secret = _env(delivery.options.get("secret_env", ""), "the webhook signing secret")
    body = webhook_body(delivery, message)
    headers = signing.webhook_headers(secret, body, event=message.event, delivery=str(delivery.id))
    post(resolve_url(delivery.target), body, headers)


SENDERS = {
    NotificationChannel.EMAIL: send_email,
    NotificationChannel.SLACK: send_slack,
    NotificationChannel.WEBHOOK: send_webhook,
}


def deliver(delivery: NotificationDelivery, message: OutboxMessage) -> None:
    """Send one delivery now; raises DeliveryError when it did not go out."""
    sender = SENDERS.get(delivery.channel)
    if sender is None:
        raise DeliveryError(f"unknown channel {delivery.channel!r}", permanent=True)
    sender(delivery, message)
