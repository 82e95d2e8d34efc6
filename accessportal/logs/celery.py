"""Carrying the request id into Celery tasks, and task ids onto the worker's log lines.

A message published while a request (or a task) is being handled carries its id in the
`x_request_id` header; one published with no id around (beat, a management command) gets
a new one. The worker sets the ids for the task's run, so each of its lines says which
request queued it. Connected in accessportal/celery.py.
"""

from __future__ import annotations

import logging.config

from accessportal.logs.context import (
    current_request_id,
    new_request_id,
    request_id_var,
    task_id_var,
    task_name_var,
)

HEADER = "x_request_id"

# A task's context tokens, reset when it ends (a worker process runs many tasks; eager
# tasks nest inside a request).
_tokens: dict[str, list] = {}


def on_before_task_publish(sender=None, headers=None, **kwargs) -> None:
    if headers is not None and not headers.get(HEADER):
        headers[HEADER] = current_request_id() or new_request_id()


def on_task_prerun(task_id=None, task=None, **kwargs) -> None:
    request_id = (
        getattr(task.request, HEADER, None)
        or (task.request.headers or {}).get(HEADER)
        or current_request_id()  # an eager task, run inside the request that queued it
        or new_request_id()
    )
    _tokens[task_id] = [
        request_id_var.set(request_id),
        task_id_var.set(task_id or "-"),
        task_name_var.set(getattr(task, "name", "-")),
    ]


def on_task_postrun(task_id=None, **kwargs) -> None:
    tokens = _tokens.pop(task_id, [])
    for var, token in zip((request_id_var, task_id_var, task_name_var), tokens, strict=False):
        try:
            var.reset(token)
        except ValueError:  # set in another context: start clean
            var.set("-")


def on_setup_logging(**kwargs) -> None:
    """The worker and beat log through settings.LOGGING (JSON or text, ids, redaction)
    instead of Celery's own root-logger set-up; LOG_LEVEL sets the level (not `-l`)."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
