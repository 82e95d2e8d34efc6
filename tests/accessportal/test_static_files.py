"""Production mode serves its own static files (WhiteNoise): after `collectstatic`, gunicorn
answers the admin's, the portal's and Swagger UI's assets that the pages link to.

gunicorn runs as a real process on a loopback port, in production mode, behind a pretend
TLS proxy (SECURE_PROXY_SSL_HEADER and the header on every request).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.server_process import free_port

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120  # seconds: a bound on the wait for gunicorn, not a target
HOST = "access.example.com"


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "SECURE_")) and k not in {"DATABASE_URL"}
    }
    return environ | {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        # Required in production (PostgreSQL); static files and the sign-in page never
        # query it (nothing listens on port 9).
        "DATABASE_URL": "postgres://accessportal@127.0.0.1:9/accessportal",
        # Required in production; static files and the sign-in page never touch the cache.
        "CACHE_URL": os.environ.get("ACCESSPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/1"),
        "NOTIFY_REQUEST_URL": f"https://{HOST}/requests/{{id}}/",
    }


@pytest.fixture
def gunicorn(production_env, tmp_path):
    """collectstatic into the temporary STATIC_ROOT, then gunicorn; yields a GET function."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=production_env,
        check=True,
        timeout=300,
    )
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "accessportal.wsgi",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=production_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def get(path: str):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            headers={"Host": HOST, "X-Forwarded-Proto": "https"},
        )
        try:
            return urllib.request.urlopen(request, timeout=30)
        except urllib.error.HTTPError as error:
            return error

    deadline = time.monotonic() + DEADLINE
    while True:
        assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.3)
    yield get
    process.terminate()
    process.wait(timeout=30)
    log.close()


def _linked_assets(html: str, suffix: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+\.' + suffix + r')"', html)


def _fetch_asset(get, path: str, content_type: str) -> bytes:
    with get(path) as reply:
        assert reply.status == 200, f"{path}: {reply.status}"
        assert reply.headers["Content-Type"].startswith(content_type), reply.headers
        return reply.read()


def test_production_serves_admin_portal_and_swagger_assets(gunicorn):
    with gunicorn("/admin/login/") as reply:
        admin_page = reply.read().decode()
    admin_css = [a for a in _linked_assets(admin_page, "css") if "/admin/css/" in a]
    assert admin_css, admin_page
    assert b"{" in _fetch_asset(gunicorn, admin_css[0], "text/css")

    with gunicorn("/accounts/login/") as reply:
        portal_page = reply.read().decode()
    portal_css = [a for a in _linked_assets(portal_page, "css") if "/portal/" in a]
    assert portal_css, portal_page
    _fetch_asset(gunicorn, portal_css[0], "text/css")

    with gunicorn("/api/docs/") as reply:
        docs_page = reply.read().decode()
    swagger_js = [a for a in _linked_assets(docs_page, "js") if "swagger-ui" in a]
    assert swagger_js, docs_page
    for asset in swagger_js:
        _fetch_asset(gunicorn, asset, "text/javascript")
    swagger_css = [a for a in _linked_assets(docs_page, "css") if "swagger-ui" in a]
    assert swagger_css, docs_page
    _fetch_asset(gunicorn, swagger_css[0], "text/css")
