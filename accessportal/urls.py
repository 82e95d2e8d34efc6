"""Top-level URL map."""

from django.contrib import admin
from django.urls import include, path

from accessportal.metrics.views import metrics
from requests_app.api.views.credentials import jwks_view
from requests_app.health.views import healthz, readyz
from requests_app.portal.urls import auth_urlpatterns

# A crash outside the API's views (production mode) still answers JSON under /api/.
handler500 = "requests_app.api.views.errors.server_error"
# A refusal inside /admin/ is a desk page with navigation; elsewhere Django's own 403.
handler403 = "requests_app.admin.denied.permission_denied"

urlpatterns = [
    # Probes for load balancers and orchestrators (docs/operations.md): no authentication,
    # plain HTTP allowed (SECURE_REDIRECT_EXEMPT).
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    # Prometheus metrics (docs/operations.md): a bearer token in production.
    path("metrics", metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/", include("requests_app.api.urls")),
    # The public keys that verify signed access credentials (no authentication).
    path(".well-known/jwks.json", jwks_view, name="jwks"),
    # Directory sync for identity providers (accessportal/scim), bearer tokens only.
    path("scim/v2/", include("django_scim.urls", namespace="scim")),
    # The engineers' portal at / and its sign-in pages (requests_app/portal).
    path("accounts/", include(auth_urlpatterns)),
    # Single sign-on (accessportal/sso): /sso/oidc/<provider>/login/ and .../callback/.
    path("sso/", include("accessportal.sso.urls")),
    path("", include("requests_app.portal.urls")),
]
