"""Login throttling against password guessing (django-axes), for every password login.

Admin, portal and API token logins all go through django.contrib.auth.authenticate(), so
the one backend below covers them all. The client's address is accessportal/client_address.py's
(AXES_CLIENT_IP_CALLABLE), the same as the API's rate limits use. See docs/SECURITY.md.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.conf import settings


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first among the authentication backends.

    Every password login over HTTP (admin, portal, API token login) passes a request and
    is throttled. A call without a request (a management command or shell) cannot be
    attributed to a client, so it is left to the other backends instead of failing.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """What a locked-out client gets: 429 with Retry-After, JSON for API clients and a
    short page for browsers, saying why and for how long, never whether the account exists."""
    from django.http import JsonResponse
    from django.shortcuts import render

    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    message = (
        f"Too many failed sign-in attempts. Sign-in is locked for {minutes} minutes; "
        "try again later, or ask an administrator to unlock it."
    )
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        response = JsonResponse({"detail": message, "code": "sign_in_locked"}, status=429)
    else:
        response = render(
            request, "security/lockout.html", {"message": message, "minutes": minutes}, status=429
        )
    response["Retry-After"] = str(minutes * 60)
    return response
