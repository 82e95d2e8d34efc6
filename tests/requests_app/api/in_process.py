"""Django's WSGI application called in-process, as the tests' HTTP clients see it
(schemathesis' WSGI loader, httpx.WSGITransport for the generated client)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections


@contextmanager
def wsgi_app() -> Iterator[WSGIHandler]:
    """The calls share the test's database transaction. Like Django's test client, keep the
    connection open between requests: the WSGI handler closes it at the end of each one
    (request_finished), which on PostgreSQL would end the test's transaction mid-test."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
