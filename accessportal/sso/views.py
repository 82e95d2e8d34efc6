"""The sign-in surface's pages: refusals and the allauth pages we do not offer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accessportal.kernel.errors import DomainError, NotFound

ERROR_TEMPLATE = "socialaccount/authentication_error.html"


def sign_in_refused(request: HttpRequest, provider: str, error: DomainError) -> HttpResponse:
    """The authentication error page for a refused sign-in, with the error's status."""
    context = {"auth_error": {"provider": provider, "code": error.code, "exception": error}}
    return render(request, ERROR_TEMPLATE, context, status=error.status)


def not_offered(request: HttpRequest) -> HttpResponse:
    """allauth's signup form and account connections: accounts come from the sign-in hook
    only (accessportal/sso/accounts.py), so these pages do not exist here."""
    return sign_in_refused(request, "", NotFound("there is no such page: sign in instead"))
