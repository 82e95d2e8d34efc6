"""Fixtures of the metrics tests: scraping /metrics as Prometheus would, API clients, and
the provisioning fixtures of the engine's tests (a file-backed provisioner plugin)."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.requests_app.provisioning.conftest import groups, plugin, work  # noqa: F401


@pytest.fixture
def scrape(client, settings):
    """scrape() -> the text of GET /metrics (development, from loopback), the database
    gauges read fresh at each scrape unless the test sets METRICS_DB_CACHE itself."""
    settings.METRICS_DB_CACHE = 0

    def _scrape() -> str:
        answer = client.get("/metrics")
        assert answer.status_code == 200, answer.content
        return answer.content.decode()

    return _scrape


@pytest.fixture
def api_as(user):
    """api_as("alice") -> an APIClient carrying alice's DRF token."""

    def _client(name: str) -> APIClient:
        client = APIClient()
        token, _ = Token.objects.get_or_create(user=user(name))
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return _client
