"""Calls Access Portal makes to other systems (notification webhooks, audit anchors, the
webhook provisioner): where their secrets are named, which URLs are acceptable, and the one
HTTP POST they share, which never follows a redirect (a redirected POST loses its body, and
a webhook that redirects is misconfigured).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from urllib.parse import urlsplit

# The name of an environment variable holding a secret (secrets never go into policy files).
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_HTTP_URL_RE = re.compile(r"^https?://[^\s/]+")


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    if parts.scheme == "http" and not _loopback(parts.hostname):
        return "must use https (plain http only to a loopback address such as 127.0.0.1)"
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def http_post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, limit: int = 65536
) -> tuple[int, bytes]:
    """POST `body` as JSON; returns the 2xx status and at most `limit` bytes of the answer.

    Any other status (a redirect included) raises urllib.error.HTTPError, whose `read()`
    gives the answer's body; an endpoint that cannot be reached or does not answer within
    `timeout` seconds (per socket operation) raises URLError, OSError or ValueError.
    """
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    with _opener.open(request, timeout=timeout) as response:
        return response.status, response.read(limit)
