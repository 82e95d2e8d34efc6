"""Who may read /metrics (the web's, and the worker exporter's app): a bearer token in
production (401 without or with a wrong one, 404 when none is configured); loopback in
development. The same rule answers on both endpoints."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accessportal.metrics.auth import bearer_matches, metrics_access
from accessportal.metrics.worker import exporter_app

TOKEN = "metrics-token-for-tests-7a1c9e"
LOOPBACK, REMOTE = "127.0.0.1", "10.1.2.3"

# (production, configured token, Authorization header, client address) -> status
CASES = [
    (True, TOKEN, f"Bearer {TOKEN}", REMOTE, 200),
    (True, TOKEN, f"bearer {TOKEN}", LOOPBACK, 200),
    (True, TOKEN, "", LOOPBACK, 401),
    (True, TOKEN, "", REMOTE, 401),
    (True, TOKEN, "Bearer wrong-token", REMOTE, 401),
    (True, TOKEN, f"Bearer {TOKEN}x", REMOTE, 401),
    (True, TOKEN, f"Token {TOKEN}", REMOTE, 401),
    (True, TOKEN, f"Basic {TOKEN}", REMOTE, 401),
    (True, TOKEN, "Bearer ☃", REMOTE, 401),
    (True, "", f"Bearer {TOKEN}", REMOTE, 404),
    (True, "", "", LOOPBACK, 404),
    (False, "", "", LOOPBACK, 200),
    (False, "", "", "::1", 200),
    (False, "", "", REMOTE, 403),
    (False, TOKEN, "", REMOTE, 403),
    (False, TOKEN, "Bearer wrong-token", REMOTE, 403),
    (False, TOKEN, f"Bearer {TOKEN}", REMOTE, 200),
    (False, "", "Bearer ", REMOTE, 403),
]


def _id(case) -> str:
    production, token, header, address, status = case
    mode = "production" if production else "development"
    return f"{mode}-token:{bool(token)}-{header.split(' ')[0] or 'none'}-{address}-{status}"


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_web_metrics_access(case, client, settings):
    production, token, header, address, status = case
    settings.PRODUCTION, settings.METRICS_TOKEN = production, token
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    answer = client.get("/metrics", REMOTE_ADDR=address, **extra)
    assert answer.status_code == status
    if status == 200:
        assert b"accessportal_grants_open" in answer.content
    else:
        assert b"accessportal_" not in answer.content
    if status == 401:
        assert answer["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"Authorization: Bearer" in answer.content  # says what is missing
    assert TOKEN.encode() not in answer.content


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_worker_exporter_access(case, settings):
    production, token, header, address, status = case
    settings.PRODUCTION, settings.METRICS_TOKEN = production, token
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/metrics",
        "REMOTE_ADDR": address,
        "wsgi.input": io.BytesIO(),
    }
    if header:
        environ["HTTP_AUTHORIZATION"] = header
    started = []
    body = b"".join(exporter_app(environ, lambda s, h: started.append((s, dict(h)))))
    ((line, headers),) = started
    assert int(line.split()[0]) == status
    if status == 401:
        assert headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    # The worker exporter never reports the database's gauges (the web does, once).
    assert b"accessportal_grants_open" not in body


def test_only_get_and_head_are_served(client, settings):
    settings.PRODUCTION = False
    assert client.post("/metrics").status_code == 405


def test_the_comparison_ignores_case_of_the_scheme_only():
    assert bearer_matches(f"BEARER {TOKEN}", TOKEN)
    assert not bearer_matches(f"Bearer {TOKEN.upper()}", TOKEN)
    assert not bearer_matches("Bearer ", "")  # no token configured matches nothing
    assert metrics_access(production=True, token="", authorization="Bearer ", remote_addr="") == 404


def test_production_without_a_token_warns_at_check(settings):
    settings.PRODUCTION, settings.METRICS_TOKEN = True, ""
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "METRICS_TOKEN is not set: /metrics answers 404 in production mode" in out.getvalue()
    settings.METRICS_TOKEN = TOKEN
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "METRICS_TOKEN" not in out.getvalue()
