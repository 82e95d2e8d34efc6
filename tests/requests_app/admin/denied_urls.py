"""The site's URLs plus plain Django views that refuse under /admin/ and /api/: a
PermissionDenied no admin or API (DRF) view shaped, for the 403 handler's tests."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from accessportal import urls as site

handler403 = site.handler403
SECRET = "request 7f3e belongs to the payroll team"


def refuse(request):
    raise PermissionDenied(SECRET)


urlpatterns = [
    path("admin/refuse/", refuse),
    path("api/refuse/", refuse),
    *site.urlpatterns,
]
