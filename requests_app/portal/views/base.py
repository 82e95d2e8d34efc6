"""What every portal page shares: sign-in, the user's time zone, the navigation counts."""

from __future__ import annotations

import functools
import zoneinfo
from urllib.parse import unquote

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from requests_app.portal.selectors import reviewer_info

TZ_COOKIE = "tz"


def _browser_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    """The IANA zone portal.js stored from the browser; unknown names are ignored."""
    name = unquote(request.COOKIES.get(TZ_COOKIE, ""))
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def portal_view(view):
    """Sign-in required; times shown and typed in the browser's own time zone."""

    @login_required
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        zone = _browser_zone(request)
        if zone is None:
            return view(request, *args, **kwargs)
        with timezone.override(zone):
            return view(request, *args, **kwargs)

    return wrapper


def portal_render(
    request: HttpRequest, template: str, context: dict | None = None, *, status: int = 200
) -> HttpResponse:
    """Render a page with the navigation's reviewer count (fragments skip it)."""
    context = dict(context or {})
    if not template.split("/")[-1].startswith("_"):
        context.setdefault("reviewer", reviewer_info(request.user))
    return render(request, template, context, status=status)


def safe_next(request: HttpRequest, default: str) -> str:
    """The `next` the form carried, if it points into this site; else `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default
