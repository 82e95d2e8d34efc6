"""The worker exporter's HTTP server itself (accessportal/metrics/worker.py): it listens on
IPv4 and IPv6 addresses as METRICS_WORKER_BIND names them, and closes idle connections."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from accessportal.metrics import worker
from accessportal.metrics.config import worker_bind


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _free_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve():
    started = []

    def _serve(host: str, port: int, **kwargs):
        server = worker.exporter_start(host, port, **kwargs)
        started.append(server)
        return server

    yield _serve
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        pytest.param(
            "[::1]",
            marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here"),
        ),
    ],
)
def test_the_exporter_listens_where_the_bind_setting_says(serve, settings, host):
    settings.PRODUCTION = False  # development: served to loopback without a token
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    port = _free_port(family, host.strip("[]"))
    bound_host, bound_port = worker_bind(f"{host}:{port}")  # as settings.py reads it
    serve(bound_host, bound_port)
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as answer:
        assert answer.status == 200
        assert b"# TYPE python_info gauge" in answer.read()


def test_an_idle_connection_is_closed_by_the_exporter(serve):
    port = _free_port(socket.AF_INET, "127.0.0.1")
    serve("127.0.0.1", port, idle_timeout=1)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as idle:
        # Nothing is sent: the exporter's handler gives up and closes the connection (an
        # empty read) instead of holding its thread until the client goes away.
        assert idle.recv(1) == b""
