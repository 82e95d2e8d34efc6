"""URLs of the REST API, mounted at `/api/`: the API at `v1/`, the schema and its docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import SimpleRouter

from requests_app.api.views.access import AccessCheckView
from requests_app.api.views.access_reviews import CampaignItemViewSet, CampaignRunViewSet
from requests_app.api.views.audit import AuditEventViewSet
from requests_app.api.views.auth import AuthTokenView, CurrentTokenView
from requests_app.api.views.cli_auth import (
    CliTokenView,
    DeviceAuthorizationView,
    DeviceTokenView,
)
from requests_app.api.views.credentials import CredentialView
from requests_app.api.views.docs import SwaggerDocsView
from requests_app.api.views.errors import missing_slash, unknown_endpoint
from requests_app.api.views.evidence import EvidenceView
from requests_app.api.views.grants import GrantViewSet
from requests_app.api.views.me import MeView
from requests_app.api.views.policies import ResourceViewSet, RoleViewSet
from requests_app.api.views.proposals import PolicyProposalViewSet
from requests_app.api.views.provisioning import ProvisionTargetViewSet
from requests_app.api.views.requests import AccessRequestViewSet

app_name = "api"

router = SimpleRouter()
router.register("roles", RoleViewSet, basename="role")
router.register("resources", ResourceViewSet, basename="resource")
router.register("requests", AccessRequestViewSet, basename="request")
router.register("grants", GrantViewSet, basename="grant")
router.register("audit", AuditEventViewSet, basename="audit")
router.register("provisioning/targets", ProvisionTargetViewSet, basename="provision-target")
router.register("policy-proposals", PolicyProposalViewSet, basename="policy-proposal")
router.register("access-reviews/items", CampaignItemViewSet, basename="access-review-item")
router.register("access-reviews/runs", CampaignRunViewSet, basename="access-review-run")

v1 = [
    path("me/", MeView.as_view(), name="me"),
    path("access/check/", AccessCheckView.as_view(), name="access-check"),
    # A signed JWT of the caller's open access; verified with /.well-known/jwks.json.
    path("credentials/", CredentialView.as_view(), name="credentials"),
    # POST username + password → {"token": ...}: how `accessctl login --user` gets a token.
    path("auth/token/", AuthTokenView.as_view(), name="auth-token"),
    path("auth/token/current/", CurrentTokenView.as_view(), name="auth-token-current"),
    # `accessctl login --sso`: a code approved in the portal → an expiring session token.
    path("auth/cli/token/", CliTokenView.as_view(), name="auth-cli-token"),
    path("auth/device/", DeviceAuthorizationView.as_view(), name="auth-device"),
    path("auth/device/token/", DeviceTokenView.as_view(), name="auth-device-token"),
    path("requests/<str:pk>/evidence/", EvidenceView.as_view(), name="request-evidence"),
    *router.urls,
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SwaggerDocsView.as_view(url_name="api:schema"), name="docs"),
    # Last: a path without its trailing slash is answered here, not by Django's APPEND_SLASH
    # (errors.missing_slash says why); any other path gets a JSON 404, not an HTML page.
    re_path(r"^.*[^/]$", missing_slash),
    re_path(r"", unknown_endpoint, name="unknown"),
]
