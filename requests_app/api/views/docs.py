"""`/api/docs/`: Swagger UI that works under the site's Content-Security-Policy.

drf-spectacular's SpectacularSwaggerView starts Swagger UI with an inline script, which the
CSP (script-src 'self' plus nonces) blocks, leaving a blank page. The split view serves that
script from this origin instead (`?script`); the template drops the inline style too.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularSwaggerSplitView


class SwaggerDocsView(SpectacularSwaggerSplitView):
    template_name = "api/swagger_ui.html"
