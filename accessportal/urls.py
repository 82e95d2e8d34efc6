"""Top-level URL map."""

from django.contrib import admin
from django.urls import include, path

from requests_app.portal.urls import auth_urlpatterns

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("requests_app.api.urls")),
    # The engineers' portal at / and its sign-in pages (requests_app/portal).
    path("accounts/", include(auth_urlpatterns)),
    path("", include("requests_app.portal.urls")),
]
