"""The one outbound HTTP POST (accessportal/kernel/outbound.py): a name that resolves to
several addresses that never answer still fails within the one timeout, no call goes to a
link-local, unspecified or metadata address, and none goes through a proxy."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time

import pytest

from accessportal.kernel import outbound


@contextlib.contextmanager
def _port_that_never_accepts():
    """A listener whose accept queue is full and which never accepts: further connection
    attempts get no answer at all (the SYN is dropped), like a firewalled address."""
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        sock = socket.socket()
        sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        fillers.append(sock)
    time.sleep(0.3)  # the handshakes of the fillers complete
    try:
        yield port
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


def test_several_silent_addresses_share_the_one_timeout(monkeypatch):
    resolve = socket.getaddrinfo

    def three_addresses(host, *args, **kwargs):  # a name with three A records
        if host == "silent.example":
            port = args[0]
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"127.0.0.{i}", port))
                for i in (1, 2, 3)
            ]
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", three_addresses)
    with _port_that_never_accepts() as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            outbound.http_post(f"https://silent.example:{port}/x", b"{}", {}, timeout=2.0)
        took = time.monotonic() - started
    assert took < 2 + 3, f"a 2 s timeout took {took:.1f} s"  # a bound, not a speed


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://[fd00:ec2::254]/latest/meta-data",
        "http://100.100.100.200/latest/meta-data",
    ],
)
def test_no_call_goes_to_a_link_local_unspecified_or_metadata_address(url):
    with pytest.raises(OSError, match="link-local, unspecified or metadata"):
        outbound.http_post(url, b"{}", {}, timeout=2.0)


@contextlib.contextmanager
def _recording_server():
    """An HTTP server on loopback that answers every POST and records its request line."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.requestline)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def do_CONNECT(self):
            seen.append(self.requestline)
            self.send_response(502)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_environment_proxies_are_not_used(monkeypatch):
    """With http_proxy set, a call still goes straight to its host (and so the address
    refusal sees the real address, not the proxy's)."""
    with _recording_server() as (proxy_port, proxy_saw), _recording_server() as (port, saw):
        proxy = f"http://127.0.0.1:{proxy_port}"
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        answer = outbound.http_post(f"http://127.0.0.1:{port}/hook", b"{}", {}, timeout=5.0)
        assert answer.status == 200
        assert saw == ["POST /hook HTTP/1.1"]
        with pytest.raises(OSError, match="link-local, unspecified or metadata"):
            outbound.http_post("http://169.254.169.254/latest/meta-data", b"{}", {}, timeout=3)
        assert proxy_saw == []
