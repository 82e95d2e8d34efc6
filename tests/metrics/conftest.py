import pytest


@pytest.fixture
def scrape(client, settings):
    """scrape() -> the text of GET /metrics as Prometheus sees it (development, loopback),
    with the database gauges read fresh (no cache) unless the test sets METRICS_DB_CACHE."""
    settings.METRICS_DB_CACHE = 0

    def _scrape() -> str:
        answer = client.get("/metrics")
        assert answer.status_code == 200, answer.content
        return answer.content.decode()

    return _scrape
