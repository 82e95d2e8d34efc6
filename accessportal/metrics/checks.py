"""System check: production without METRICS_TOKEN serves no metrics (404), say so."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def metrics_token_check(app_configs, **kwargs):
    if settings.PRODUCTION and not settings.METRICS_TOKEN:
        return [
            Warning(
                "METRICS_TOKEN is not set: /metrics answers 404 in production mode",
                hint="set METRICS_TOKEN to a long random string and give it to Prometheus "
                "as a bearer token (docs/operations.md, Metrics)",
                id="accessportal_metrics.W001",
            )
        ]
    return []
