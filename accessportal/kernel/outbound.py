"""Calls Access Portal makes to other systems (notification webhooks, audit anchors, the
webhook provisioner): where their secrets are named, which URLs are acceptable, and the one
HTTP POST they share, which never follows a redirect (a redirected POST loses its body, and
a webhook that redirects is misconfigured).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import NamedTuple
from urllib.parse import urlsplit

# The name of an environment variable holding a secret (secrets never go into policy files).
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_HTTP_URL_RE = re.compile(r"^https?://[^\s/]+")


def loopback_host(host: str | None) -> bool:
    """Whether `host` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Cloud metadata services outside the link-local ranges: AWS over IPv6, Alibaba Cloud.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)


def forbidden_address(host: str | None) -> bool:
    """Whether `host` is a literal IP address no call may go to: link-local
    (169.254.0.0/16, fe80::/10: cloud metadata services live there), another cloud metadata
    address (fd00:ec2::254, 100.100.100.200) or unspecified (0.0.0.0, ::). Host names are
    checked after resolution, at call time."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_link_local or address.is_unspecified or address in METADATA_ADDRESSES


def http_url_problem(url: object, *, https_unless_loopback: bool = False) -> str | None:
    """What is wrong with a webhook URL (None when it is fine).

    `https_unless_loopback`: plain http only to this machine (127.0.0.1, ::1, localhost),
    and no user name or password in the URL.
    """
    if not isinstance(url, str) or not _HTTP_URL_RE.match(url):
        return "must be an http:// or https:// URL"
    if not https_unless_loopback:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "must be an http:// or https:// URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password (secrets never go into policy files)"
    if forbidden_address(parts.hostname):
        return (
            "must not name a link-local, unspecified or metadata address (169.254.x.x, "
            "fe80::, 0.0.0.0, fd00:ec2::254, 100.100.100.200)"
        )
    if parts.scheme == "http" and not loopback_host(parts.hostname):
        return "must use https (plain http only to a loopback address such as 127.0.0.1)"
    return None


class Answer(NamedTuple):
    status: int
    reason: str
    body: bytes  # at most `limit` bytes


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Deadline:
    """Bounds a whole call, not each socket operation: shuts its sockets down when the time
    is up, so an endpoint that drips its answer a byte at a time cannot hold a worker; and
    connects to each resolved address only with the time left, so a name with several
    addresses that never answer cannot multiply the timeout."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def create_connection(self, address, timeout=None, source_address=None, **_) -> socket.socket:
        """socket.create_connection, each address given only the time left before the
        deadline, and link-local or unspecified addresses refused (`forbidden_address`)."""
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, where in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            if forbidden_address(where[0]):
                error = ConnectionRefusedError(
                    f"{host} resolves to {where[0]}, a link-local, unspecified or metadata address"
                )
                continue
            left = self.end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"could not connect within {self.seconds:g}s")
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(left)
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                sock.settimeout(timeout)
                return sock
            except OSError as err:
                sock.close()
                error = err
        raise error or OSError(f"{host} resolves to no address")

    def connection(self, base: type[http.client.HTTPConnection]):
        """`base`, with every socket it connects handed to this deadline."""
        deadline = self

        class Connection(base):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                self._create_connection = deadline.create_connection

            def connect(self) -> None:
                super().connect()
                with deadline._lock:
                    deadline._sockets.append(self.sock)
                    if deadline.expired:
                        self.sock.shutdown(socket.SHUT_RDWR)

        return Connection

    def opener(self) -> urllib.request.OpenerDirector:
        deadline = self

        class HTTP(urllib.request.HTTPHandler):
            def http_open(self, req):
                return self.do_open(deadline.connection(http.client.HTTPConnection), req)

        class HTTPS(urllib.request.HTTPSHandler):
            def https_open(self, req):
                return self.do_open(
                    deadline.connection(http.client.HTTPSConnection), req, context=self._context
                )

        # ProxyHandler({}): environment proxy variables (http_proxy, https_proxy) are
        # ignored; through a proxy the address checks above would only see the proxy's.
        return urllib.request.build_opener(
            urllib.request.ProxyHandler({}), _NoRedirects, HTTP, HTTPS
        )

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._timer.join()


def http_post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, limit: int = 65536
) -> Answer:
    """POST `body` as JSON; the answer's status, reason and at most `limit` bytes of its
    body, whatever the status (a redirect is answered, never followed).

    The whole call, connecting to each resolved address and the answer included, takes at
    most `timeout` seconds (past it: TimeoutError); link-local, unspecified and cloud
    metadata addresses (169.254.169.254, fe80::, 0.0.0.0, fd00:ec2::254, 100.100.100.200)
    are never connected to, whatever name resolves to them (ConnectionRefusedError). The
    call connects directly: proxy environment variables (http_proxy...) are ignored.
    Name resolution itself is the system's, not bounded.
    An endpoint that cannot be reached or answers something that is not HTTP raises
    URLError, OSError or ValueError.
    """
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    with _Deadline(timeout) as deadline:
        try:
            answer = _post(deadline.opener(), request, timeout, limit)
        except (OSError, http.client.HTTPException, ValueError) as err:
            timed_out = isinstance(getattr(err, "reason", err), TimeoutError)
            if deadline.expired or timed_out:
                raise TimeoutError(f"no complete answer within {timeout:g}s") from None
            if isinstance(err, http.client.HTTPException):
                raise ConnectionError(f"not an HTTP answer ({type(err).__name__})") from None
            raise
    if deadline.expired:  # cut off mid-body: what was read is not the answer
        raise TimeoutError(f"no complete answer within {timeout:g}s")
    return answer


def _post(opener, request, timeout: float, limit: int) -> Answer:
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.reason, response.read(limit))
    except urllib.error.HTTPError as err:
        with err:
            return Answer(err.code, str(err.reason), err.read(limit))
