"""The one outbound HTTP POST (accessportal/kernel/outbound.py): a name that resolves to
several addresses that never answer still fails within the one timeout, and no call goes
to a link-local or unspecified address."""

from __future__ import annotations

import contextlib
import socket
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
    "url", ["http://169.254.169.254/latest/meta-data", "http://[fe80::1]/", "http://0.0.0.0/"]
)
def test_no_call_goes_to_a_link_local_or_unspecified_address(url):
    with pytest.raises(OSError, match="link-local or unspecified"):
        outbound.http_post(url, b"{}", {}, timeout=2.0)
