"""Who may read metrics: the one rule the web's /metrics and the worker's exporter apply.

Production: only a request with `Authorization: Bearer <METRICS_TOKEN>` (compared in
constant time); a missing or wrong token is 401, and without METRICS_TOKEN nothing is
served (404: the endpoint does not exist). Development: open from loopback; from
elsewhere only with the token (403 otherwise).
"""

from __future__ import annotations

import hmac
import ipaddress

SERVE = 200


def bearer_matches(authorization: str, token: str) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address((address or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def metrics_access(*, production: bool, token: str, authorization: str, remote_addr: str) -> int:
    """SERVE (200), or the status to refuse with: 404, 401 or 403."""
    if production:
        if not token:
            return 404
        return SERVE if bearer_matches(authorization, token) else 401
    if is_loopback(remote_addr) or bearer_matches(authorization, token):
        return SERVE
    return 403


MESSAGES = {
    401: "a valid 'Authorization: Bearer <METRICS_TOKEN>' header is required\n",
    403: "metrics are served to loopback only in development (or with METRICS_TOKEN)\n",
    404: "not found\n",
}
