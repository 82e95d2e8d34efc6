"""The request id of each HTTP request: from the proxy's X-Request-ID when sane, else new;
on every log line of the request (context.ContextFilter) and in the response."""

from __future__ import annotations

from django.core.signals import request_finished

from accessportal.logs.context import http_request_var, request_id_var, sane_request_id

HEADER = "X-Request-ID"


def _clear(**kwargs: object) -> None:
    """Once the response is closed: Django logs 4xx/5xx answers (django.request) after the
    middleware returned, so the ids stay set until then."""
    request_id_var.set("-")
    http_request_var.set(None)


# A framework signal, the one place Django says "this request is over" (STYLE: signals
# only for third-party hooks).
request_finished.connect(_clear, dispatch_uid="accessportal.logs.clear")


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every line of the request, security redirects included,
    carries the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane_request_id(request.headers.get(HEADER))
        request.request_id = request_id
        request_id_var.set(request_id)
        http_request_var.set(request)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response
