"""Reading the metrics settings (imports no app: settings.py uses it)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


def worker_bind(value: str) -> tuple[str, int] | None:
    """METRICS_WORKER_BIND `host:port` (`[::1]:9808` for IPv6) as (host, port); None when
    empty (no worker exporter)."""
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(
            f"METRICS_WORKER_BIND={value!r} must be host:port, e.g. 127.0.0.1:9808"
        )
    return host, int(port)
