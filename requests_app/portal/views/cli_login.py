"""`accessctl login --sso` in the browser: confirm a loopback sign-in, or approve a device code.

Both pages need a signed-in session (however the person signed in: password or SSO) and a
POST with CSRF to hand anything out, so opening a link alone never mints a token. The
rules are in requests_app/services/cli_login.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accessportal.kernel.errors import DomainError
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.services.cli_login import (
    cli_login_approve,
    device_code_decide,
    loopback_params_check,
    user_code_normalize,
)

LOOPBACK_HOST = "127.0.0.1"  # fixed: only the port comes from the request


def _ttl_text() -> str:
    hours, rest = divmod(settings.ACCESSPORTAL_CLI_TOKEN_TTL, 3600)
    return f"{hours} hours" if not rest else f"{settings.ACCESSPORTAL_CLI_TOKEN_TTL // 60} minutes"


def _callback(port: int, **query: str) -> str:
    return f"http://{LOOPBACK_HOST}:{port}/callback?{urlencode(query)}"


@never_cache
@require_http_methods(["GET", "POST"])
@portal_view
def cli_login(request: HttpRequest) -> HttpResponse:
    """GET: "Sign in accessctl on this machine?" for ?port=&state=&code_challenge=.
    POST approve: a one-time code, sent to the CLI's listener; POST cancel: the CLI is told."""
    params = request.POST if request.method == "POST" else request.GET
    port, state, challenge = (params.get(k) for k in ("port", "state", "code_challenge"))
    try:
        number = loopback_params_check(port=port, state=state, code_challenge=challenge)
    except DomainError as err:
        context = {"error": err.message, "ttl": _ttl_text()}
        return portal_render(request, "portal/cli_login.html", context, status=400)
    if request.method == "POST":
        if request.POST.get("action") != "approve":
            return HttpResponseRedirect(_callback(number, error="access_denied", state=state))
        code = cli_login_approve(user=request.user, port=number, code_challenge=challenge)
        return HttpResponseRedirect(_callback(number, code=code, state=state))
    context = {
        "port": number,
        "state": state,
        "code_challenge": challenge,
        "host": LOOPBACK_HOST,
        "ttl": _ttl_text(),
    }
    response = portal_render(request, "portal/cli_login.html", context)
    # The form's answer is a redirect to the CLI's listener: CSP's form-action must allow it.
    response._csp_update = {"form-action": [f"http://{LOOPBACK_HOST}:{number}"]}
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@portal_view
def cli_device(request: HttpRequest) -> HttpResponse:
    """Enter (or check the prefilled) code a terminal shows, then approve or deny it."""
    context: dict = {"ttl": _ttl_text()}
    status = 200
    if request.method == "POST":
        typed = request.POST.get("user_code", "")
        approve = request.POST.get("action") == "approve"
        try:
            device_code_decide(user=request.user, user_code=typed, approve=approve)
        except DomainError as err:
            context["error"] = err.message[:1].upper() + err.message[1:]
            status = err.status
            context["user_code"] = typed[:32]
        else:
            context["done"] = "approved" if approve else "denied"
            context["user_code"] = user_code_normalize(typed)
    else:
        context["user_code"] = user_code_normalize(request.GET.get("user_code")) or ""
    return portal_render(request, "portal/cli_device.html", context, status=status)
