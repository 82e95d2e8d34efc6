"""/healthz and /readyz: no authentication, JSON, cheap (docs/operations.md)."""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from requests_app.health.checks import FAIL, run_checks

logger = logging.getLogger("accessportal.health")


@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Touches nothing else (no database, no broker)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    """Readiness: every check with its state, time and message; 503 when one fails."""
    results = run_checks()
    failed = any(r.state == FAIL for r in results)
    body = {"status": "fail" if failed else "ok", "checks": [r.as_json() for r in results]}
    response = JsonResponse(body, status=503 if failed else 200)
    if failed:
        # One WARNING naming what failed, instead of Django's ERROR "Service Unavailable"
        # with no detail on every probe (a probe every few seconds would flood the log).
        logger.warning(
            "not ready: %s",
            "; ".join(f"{r.name}: {r.message}" for r in results if r.state == FAIL),
        )
        response._has_been_logged = True  # django.utils.log.log_response skips it
    return response
