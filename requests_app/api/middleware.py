"""Error answers under /api/ that no API view wrote are JSON too, in the one error shape.

The API's exception handler shapes what its views raise. Answers written elsewhere (Django's
handlers for a crash or a SuspiciousOperation in a middleware, its refusal of a bad Host
header, its technical pages in DEBUG, a CSRF refusal of a plain view) are HTML; under /api/
this middleware answers `{"detail", "code"}` instead, with the same status and headers.
Elsewhere (the portal, admin) nothing changes.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.security import SecurityMiddleware

from requests_app.api.error_codes import code_for_status
from requests_app.api.views.errors import SERVER_ERROR, is_api

BAD_HOST = {
    "detail": "the Host header names a host this server does not serve",
    "code": "bad_host",
}

# Headers of the original answer the JSON one keeps (Allow, Retry-After, WWW-Authenticate,
# and the security middlewares' nosniff, CSP, Referrer-Policy, COOP...).
REPLACED = {"content-type", "content-length"}


class ApiErrorMiddleware:
    """First in MIDDLEWARE (after the request id and metrics): outside everything whose
    error answers it turns into JSON. A bad Host header is refused by Django itself (the
    first middleware to read the host, CommonMiddleware, raises DisallowedHost; Django logs
    it to django.security.DisallowedHost and answers 400 through the security middlewares);
    this one only rewrites that answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not is_api(request) or response.status_code < 400 or _is_json(response):
            return response
        return _as_json(request, response)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def _bad_host(request: HttpRequest) -> bool:
    try:
        request.get_host()
    except DisallowedHost:
        return True
    return False


def _as_json(request: HttpRequest, response: HttpResponse) -> JsonResponse:
    status = response.status_code
    if status == 400 and _bad_host(request):
        body = BAD_HOST
    elif status == 500:
        body = SERVER_ERROR
    else:
        body = {"detail": response.reason_phrase.lower()}
    answer = JsonResponse({**body, "code": body.get("code") or code_for_status(status)})
    answer.status_code = status
    for name, value in response.items():
        if name.lower() not in REPLACED:
            answer[name] = value
    answer.cookies = response.cookies
    # Django logs an error answer once, when it is made (a crash with its traceback, a bad
    # Host to django.security); without the mark its handler would log this one again.
    if getattr(response, "_has_been_logged", False):
        answer._has_been_logged = True
    return _with_security_headers(request, answer)


def _with_security_headers(request: HttpRequest, answer: JsonResponse) -> JsonResponse:
    """The headers of the security middlewares (nosniff, Referrer-Policy, COOP, CSP): an
    answer made before it reached them has none (a bad Host is refused by
    SecurityMiddleware's own HTTPS redirect, in production). They keep headers already set."""
    for middleware in (SecurityMiddleware, CSPMiddleware):
        answer = middleware(_never_called).process_response(request, answer)
    return answer


def _never_called(request: HttpRequest) -> HttpResponse:
    raise AssertionError("only process_response is used")
