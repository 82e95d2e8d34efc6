"""settings.LOGGING: one console handler (stderr), JSON or text, with the context and
redaction filters on it so that every logger that propagates (ours, Django's, Celery's,
the libraries') gets request ids and masked secrets."""

from __future__ import annotations

import logging

import pythonjsonlogger.json
from django.core.exceptions import ImproperlyConfigured

from accessportal.logs.redact import redact

FORMATS = ("json", "text")
TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(user)s%(task_label)s] %(message)s"
)
JSON_FIELDS = [
    "levelname",
    "name",
    "message",
    "request_id",
    "user",
    "task_id",
    "task",
    "process",
]


def logging_config(*, log_format: str, level: str) -> dict:
    if log_format not in FORMATS:
        raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'")
    level = level.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ImproperlyConfigured("LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "accessportal.logs.context.ContextFilter"},
            "redact": {"()": "accessportal.logs.redact.RedactFilter"},
        },
        "formatters": {
            "json": {
                "()": "accessportal.logs.config.JsonFormatter",
                "fmt": JSON_FIELDS,
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,  # ISO 8601, UTC
            },
            "text": {"()": "accessportal.logs.config.TextFormatter", "fmt": TEXT_FORMAT},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                # context first: the redaction then sees the final message
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handler (DEBUG only) would print a second, unfiltered
            # copy of django.* lines: they go to the root's handler instead (ADMINS is
            # not used, so its mail_admins handler had nothing to send).
            "django": {"handlers": [], "level": level, "propagate": True},
            # django-axes' "AXES: BEGIN version ..." banner on every manage.py call.
            "axes.apps": {"level": "WARNING"},
        },
    }


class JsonFormatter(pythonjsonlogger.json.JsonFormatter):
    """python-json-logger's JSON lines, tracebacks masked like messages (it formats
    `exc_info` itself, so the redaction filter's masked `exc_text` is not enough)."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))


class TextFormatter(logging.Formatter):
    """Readable lines for development: the task (when there is one) after the ids."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))

    def format(self, record: logging.LogRecord) -> str:
        task = getattr(record, "task", "-")
        record.task_label = "" if task == "-" else f" {task}[{getattr(record, 'task_id', '-')}]"
        return super().format(record)
