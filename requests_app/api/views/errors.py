"""What the API answers for a path it does not have, for a crash and for a CSRF refusal:
JSON, like every other answer, in DEBUG and in production alike."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.csrf import csrf_failure as html_csrf_failure
from django.views.defaults import server_error as html_server_error
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request

from accessportal.kernel.errors import NotFound

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
UNKNOWN = "no such API endpoint: see /api/docs/"
SERVER_ERROR = {"detail": "internal server error", "code": "server_error"}


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def api_error(detail: str, code: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


@extend_schema(exclude=True)
@api_view(ALL_METHODS)
@authentication_classes([])
@permission_classes([])
def unknown_endpoint(request: Request, *args, **kwargs):
    raise NotFound(UNKNOWN)


def _is_endpoint(path_info: str) -> bool:
    try:
        return resolve(path_info).url_name != "unknown"
    except Resolver404:
        return False


@extend_schema(exclude=True)
@api_view(ALL_METHODS)
@authentication_classes([])
@permission_classes([])
def missing_slash(request: Request, *args, **kwargs):
    """Every API path ends with a slash. Without this view, Django's APPEND_SLASH answers a
    write to `requests` with a 301 that clients follow as a GET (the write is silently
    lost), or in DEBUG with a RuntimeError (a 500). A read still redirects, as before."""
    if not _is_endpoint(request.path_info + "/"):
        raise NotFound(UNKNOWN)
    if request.method in ("GET", "HEAD"):
        return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    raise NotFound(f"API paths end with a slash: {request.method} {request.path}/")


def server_error(request, *args, **kwargs):
    """handler500 (production mode) for a crash outside the API's views, e.g. in a
    middleware: JSON under /api/, Django's own page elsewhere. Crashes inside the views are
    answered by the API's exception handler, in DEBUG too."""
    if is_api(request):
        return JsonResponse(SERVER_ERROR, status=500)
    return html_server_error(request, *args, **kwargs)


def csrf_failure(request, reason: str = "", **kwargs):
    """CSRF_FAILURE_VIEW: a plain Django view under /api/ refused by CsrfViewMiddleware
    answers like DRF's session authentication does (`csrf_failed`); Django's page elsewhere."""
    if is_api(request):
        return api_error(f"CSRF Failed: {reason}", "csrf_failed", 403)
    return html_csrf_failure(request, reason, **kwargs)
