"""The development email backend: one INFO line per email (to, subject), the body at DEBUG.

Django's console backend prints whole emails to stdout, and a Celery worker turns stdout
into log lines at WARNING (worker_redirect_stdouts_level): every notification became a
many-line warning. Production sends through SMTP (EMAIL_BACKEND)."""

from __future__ import annotations

import logging

from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("accessportal.mail")


class LogEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        for message in email_messages:
            logger.info("email to %s: %s", ", ".join(message.recipients()), message.subject)
            logger.debug("email body:\n%s", message.message().as_string())
        return len(email_messages)
