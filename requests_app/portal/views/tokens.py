"""My API token for the CLI and integrations: create (shown once), replace, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from accessportal.kernel.errors import DomainError
from requests_app.models import ApiToken
from requests_app.portal.views.base import portal_render, portal_view
from requests_app.services.tokens import (
    api_token_create,
    api_token_revoke,
    session_token_revoke,
)


@never_cache
@require_http_methods(["GET", "POST"])
@portal_view
def tokens(request: HttpRequest) -> HttpResponse:
    """GET shows whether I have a token; POST makes one and shows its key this once."""
    context: dict = {}
    status = 200
    if request.method == "POST":
        try:
            token = api_token_create(user=request.user, replace=request.POST.get("replace") == "1")
        except DomainError as err:
            context["error"] = err.message[:1].upper() + err.message[1:]
            status = err.status
        else:
            context["new_key"] = token.key
    context["token"] = Token.objects.filter(user=request.user).first()
    context["sessions"] = ApiToken.objects.filter(
        user=request.user, revoked_at=None, expires_at__gt=timezone.now()
    )
    context["api_base"] = request.build_absolute_uri("/api/v1/")
    return portal_render(request, "portal/tokens.html", context, status=status)


@require_POST
@portal_view
def token_revoke(request: HttpRequest) -> HttpResponse:
    if api_token_revoke(user=request.user):
        messages.success(request, "API token revoked. Anything still using it is now refused.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("portal:tokens")


@require_POST
@portal_view
def session_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """End one `accessctl login --sso` session of mine."""
    if session_token_revoke(user=request.user, token_id=pk):
        messages.success(request, "Signed out: that accessctl session is refused from now on.")
    else:
        messages.info(request, "That session had already ended.")
    return redirect("portal:tokens")
