"""GET /metrics: Prometheus text format, with the state gauges (docs/operations.md)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from accessportal.metrics.auth import MESSAGES, SERVE, metrics_access
from accessportal.metrics.collectors import DatabaseCollector
from accessportal.metrics.registry import exposition, scrape_registry


@never_cache
@require_safe
def metrics(request):
    """Every process's counters and histograms plus the database's state gauges; access
    as `accessportal.metrics.auth` says."""
    status = metrics_access(
        production=settings.PRODUCTION,
        token=settings.METRICS_TOKEN,
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    if status != SERVE:
        answer = HttpResponse(MESSAGES[status], status=status, content_type="text/plain")
        if status == 401:
            answer["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return answer
    body, content_type = exposition(
        scrape_registry(DatabaseCollector()), request.headers.get("Accept", "")
    )
    return HttpResponse(body, content_type=content_type)
