"""The client's address, the one rule for everything that counts per client: the login
throttle (django-axes, AXES_CLIENT_IP_CALLABLE) and the API's rate limits
(requests_app/api/throttling.py). docs/SECURITY.md; docs/deploy.md "Several machines"."""

from __future__ import annotations

from django.conf import settings


def client_ip(request) -> str:
    """The client's address.

    With ACCESSPORTAL_TRUSTED_PROXIES=N (N reverse proxies in front of the service, each
    appending to X-Forwarded-For), the address N entries from the right of that header;
    otherwise REMOTE_ADDR. Entries further left are written by the client and never trusted.
    The nginx site of deploy/nginx sends one entry, the client's address as nginx found it
    (behind a load balancer too: set_real_ip_from), so N is 1 behind it.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.ACCESSPORTAL_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
