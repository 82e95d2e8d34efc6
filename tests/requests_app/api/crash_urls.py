"""The site's URLs plus plain Django views under /api/ and elsewhere: one that crashes (what
handler500 and the API's error middleware answer for a failure outside the API's (DRF)
views) and a form that Django's CSRF middleware guards (CSRF_FAILURE_VIEW)."""

from django.http import HttpResponse
from django.urls import path

from accessportal import urls as site

handler500 = getattr(site, "handler500", "django.views.defaults.server_error")


def crash(request):
    raise RuntimeError("a crash outside the API's views")


def form(request):
    return HttpResponse("accepted")


urlpatterns = [
    path("api/test-crash/", crash),
    path("test-crash/", crash),
    path("api/test-form/", form),
    path("test-form/", form),
    *site.urlpatterns,
]
