"""Error answers under /api/ that no API view wrote are JSON too, in the one error shape.

The API's exception handler shapes what its views raise. Answers written elsewhere (Django's
handlers for a crash or a SuspiciousOperation in a middleware, its technical pages in DEBUG,
a CSRF refusal of a plain view, a bad Host header) are HTML; under /api/ this middleware
answers `{"detail", "code"}` instead, with the same status and headers. Elsewhere (the
portal, admin) nothing changes.
"""

from __future__ import annotations

import logging

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse

from requests_app.api.error_codes import code_for_status
from requests_app.api.views.errors import SERVER_ERROR, api_error, is_api

# Where Django itself reports a bad Host header (its response_for_exception does the same).
host_logger = logging.getLogger("django.security.DisallowedHost")

# Headers of the original answer the JSON one keeps (Allow, Retry-After, WWW-Authenticate...).
REPLACED = {"content-type", "content-length"}


class ApiErrorMiddleware:
    """Early in MIDDLEWARE: before any middleware that reads the host (CommonMiddleware,
    CSRF), and outside everything whose error answers it turns into JSON."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api(request):
            return self.get_response(request)
        try:
            request.get_host()
        except DisallowedHost as exc:  # logged as Django does, answered in the API's shape
            host_logger.error(str(exc), extra={"status_code": 400, "request": request})
            return api_error(
                "the Host header names a host this server does not serve", "bad_host", 400
            )
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response):
            return response
        return _as_json(response)


def _is_json(response: HttpResponse) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip() == "application/json"


def _as_json(response: HttpResponse) -> JsonResponse:
    status = response.status_code
    if status >= 500:
        body = SERVER_ERROR if status == 500 else {"detail": response.reason_phrase.lower()}
    else:
        body = {"detail": response.reason_phrase.lower()}
    answer = JsonResponse({**body, "code": body.get("code") or code_for_status(status)})
    answer.status_code = status
    for name, value in response.items():
        if name.lower() not in REPLACED:
            answer[name] = value
    answer.cookies = response.cookies
    return answer
