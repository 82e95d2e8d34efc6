"""The ids of the work being done now, kept in contextvars, and the filter that adds them
to every log record (Django's, Celery's and ours alike: it sits on the handler)."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.utils.functional import empty

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="-")
task_name_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_name", default="-")
# The current HTTP request, read lazily for its user (who is known only once some
# authentication ran: the session middleware or, for the API, DRF in the view).
http_request_var: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "http_request", default=None
)

# What a proxy may hand us as X-Request-ID: bounded, and only characters that cannot break
# a log line or a header (no spaces, quotes, control characters).
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{8,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def sane_request_id(value: str | None) -> str:
    """The incoming id if it looks sane, else a new one."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return new_request_id()


def current_request_id() -> str | None:
    value = request_id_var.get()
    return None if value == "-" else value


def _username(request: object | None) -> str:
    """The request's user if authentication already ran (never triggers a lookup here: a
    filter that queried the database could log, and recurse)."""
    if request is None:  # a task, a command: no user
        return "-"
    user = getattr(request, "__dict__", {}).get("user")
    if user is None:
        return "-"
    wrapped = getattr(user, "_wrapped", user)  # SimpleLazyObject: only if evaluated
    if wrapped is None or wrapped is empty:
        return "-"
    if getattr(wrapped, "is_authenticated", False):
        return wrapped.get_username()
    return "-"


class ContextFilter(logging.Filter):
    """Adds request_id, user, task_id and task to every record passing the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.user = _username(http_request_var.get())
        record.task_id = task_id_var.get()
        record.task = task_name_var.get()
        return True
