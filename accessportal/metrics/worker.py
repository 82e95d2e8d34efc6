"""A Celery worker's own /metrics, when METRICS_WORKER_BIND is set.

Served by the worker's main process from a small threaded HTTP server; with the prefork
pool, the tasks run in child processes, which write their values to the worker's own
PROMETHEUS_MULTIPROC_DIR, and a scrape adds them up. Same access rule as the web's
/metrics (`accessportal.metrics.auth`). No database gauges here: the web reports those,
once, so that no series is exported twice.

Started from Celery's signals: `worker_init` empties the multiprocess folder (before the
pool starts; only with METRICS_WORKER_BIND set), `worker_ready` starts the server,
`worker_process_shutdown` (in each child) does prometheus_client's bookkeeping,
`worker_shutdown` stops the server.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from celery import signals
from django.conf import settings

from accessportal.metrics.auth import MESSAGES, SERVE, metrics_access
from accessportal.metrics.registry import (
    exposition,
    multiprocess_dir,
    multiprocess_dir_wipe,
    process_dead,
    scrape_registry,
)

logger = logging.getLogger(__name__)

_server: WSGIServer | None = None
HANDLER_TIMEOUT = 30  # seconds a connection may sit idle before its thread closes it


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass  # a scrape every few seconds is not worth a log line


def exporter_app(environ, start_response):
    """WSGI: GET /metrics, as the web's view answers it (without the database gauges)."""
    if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") not in (
        "GET",
        "HEAD",
    ):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [MESSAGES[404].encode()]
    status = metrics_access(
        production=settings.PRODUCTION,
        token=settings.METRICS_TOKEN,
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        remote_addr=environ.get("REMOTE_ADDR", ""),
    )
    if status != SERVE:
        headers = [("Content-Type", "text/plain")]
        if status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
        reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}[status]
        start_response(f"{status} {reason}", headers)
        return [MESSAGES[status].encode()]
    body, content_type = exposition(scrape_registry(), environ.get("HTTP_ACCEPT", ""))
    start_response("200 OK", [("Content-Type", content_type), ("Cache-Control", "no-cache")])
    return [body]


def exporter_start(host: str, port: int, *, idle_timeout: float = HANDLER_TIMEOUT) -> WSGIServer:
    """Serve `exporter_app` on host:port (an IPv6 address too) from a daemon thread; returns
    the server. A connection idle for `idle_timeout` seconds is closed: an idle or slow
    client does not hold a thread for ever."""
    host = host.strip("[]")
    handler = type("_Handler", (_QuietHandler,), {"timeout": idle_timeout})
    server_class = _ThreadingServer6 if ":" in host else _ThreadingServer  # IPv6 address
    server = make_server(host, port, exporter_app, server_class=server_class, handler_class=handler)
    thread = threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True)
    thread.start()
    return server


def _url(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def on_worker_init(**kwargs) -> None:
    # Only a worker with an exporter owns its folder; one without leaves it alone (were it
    # the web's by mistake, emptying it would lose the web's counts).
    if settings.METRICS_WORKER_BIND is not None and multiprocess_dir():
        multiprocess_dir_wipe()


def on_worker_ready(**kwargs) -> None:
    global _server
    bind = settings.METRICS_WORKER_BIND
    if bind is None or _server is not None:
        return
    try:
        _server = exporter_start(*bind)
    except OSError as err:
        logger.error("metrics: the worker's exporter cannot listen on %s: %s", _url(*bind), err)
        return
    logger.info("metrics: the worker's exporter listens on http://%s/metrics", _url(*bind))
    if not multiprocess_dir():
        logger.warning(
            "metrics: PROMETHEUS_MULTIPROC_DIR is not set: the exporter shows only what this "
            "process records, not the prefork pool's children"
        )


def on_worker_shutdown(**kwargs) -> None:
    global _server
    if _server is not None:
        _server.shutdown()
        _server.server_close()
        _server = None


def on_worker_process_shutdown(pid=None, **kwargs) -> None:
    process_dead(pid or os.getpid())


def connect_signals() -> None:
    signals.worker_init.connect(on_worker_init, weak=False, dispatch_uid="metrics-init")
    signals.worker_ready.connect(on_worker_ready, weak=False, dispatch_uid="metrics-ready")
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False, dispatch_uid="metrics-shutdown")
    signals.worker_process_shutdown.connect(
        on_worker_process_shutdown, weak=False, dispatch_uid="metrics-child-exit"
    )
