"""The site's URLs plus a plain Django view under /api/ that crashes: what handler500
answers for a failure outside the API's (DRF) views."""

from django.urls import path

from accessportal import urls as site

handler500 = getattr(site, "handler500", "django.views.defaults.server_error")


def crash(request):
    raise RuntimeError("a crash outside the API's views")


urlpatterns = [path("api/test-crash/", crash), path("test-crash/", crash), *site.urlpatterns]
