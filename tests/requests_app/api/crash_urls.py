"""The site's URLs plus plain Django views under /api/ and elsewhere: one that crashes (what
handler500 and the API's error middleware answer for a failure outside the API's (DRF)
views), one that answers a plain 503, and a form that Django's CSRF middleware guards
(CSRF_FAILURE_VIEW); and a middleware that crashes (CRASHING_MIDDLEWARE, for a settings
override)."""

from django.http import HttpResponse
from django.urls import path

from accessportal import urls as site

handler500 = getattr(site, "handler500", "django.views.defaults.server_error")


def crash(request):
    raise RuntimeError("a crash outside the API's views")


def unavailable(request):
    return HttpResponse("down for maintenance", status=503, content_type="text/plain")


class CrashingMiddleware:
    """Crashes on a request with `X-Crash: middleware`, before any view is resolved."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.headers.get("X-Crash") == "middleware":
            raise RuntimeError("a crash in a middleware")
        return self.get_response(request)


CRASHING_MIDDLEWARE = f"{__name__}.CrashingMiddleware"


def form(request):
    return HttpResponse("accepted")


urlpatterns = [
    path("api/test-crash/", crash),
    path("test-crash/", crash),
    path("api/test-unavailable/", unavailable),
    path("api/test-form/", form),
    path("test-form/", form),
    *site.urlpatterns,
]
