"""Production mode: `check --deploy` is clean, start-up refuses a missing or weak secret key,
and responses carry HSTS, the SSL redirect, CSP and anti-framing headers.

Settings are read once per process, so production mode runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accessportal.security import development_secret_key, production_secret_key

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = secrets.token_urlsafe(50)
CACHE_URL = os.environ.get("ACCESSPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_"))}
    environ.pop("ACCESSPORTAL_MODE", None)
    environ.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120
    )


def _production(**extra: str) -> dict[str, str]:
    return {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": STRONG_KEY,
        "DJANGO_ALLOWED_HOSTS": "access.example.com",
        "CACHE_URL": CACHE_URL,
        "DATABASE_URL": "postgres://accessportal@127.0.0.1:9/accessportal",  # nothing listens
        "NOTIFY_REQUEST_URL": "https://access.example.com/requests/{id}/",
        # Without it /metrics is off and `check` warns (tests/metrics/test_auth.py).
        "METRICS_TOKEN": "metrics-token-of-a-configured-deployment",
        **extra,
    }


def test_production_mode_passes_check_deploy_with_no_warnings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **_production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_development_mode_is_not_deployable_and_check_deploy_says_so():
    """The control for the test above: the same check fails outside production mode."""
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W008" in result.stderr


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DJANGO_SECRET_KEY": ""}, "needs DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "short-key"}, "too weak for production"),
        ({"DJANGO_SECRET_KEY": "ab" * 40}, "too weak for production"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + STRONG_KEY}, "development key"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off in production mode"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS must be set"),
        ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER must"),
    ],
    ids=["missing", "short", "repetitive", "django-insecure", "debug", "hosts", "proxy-header"],
)
def test_production_refuses_to_start_with_a_clear_error(env, message):
    result = _run(["manage.py", "check"], **_production(**env))
    assert result.returncode != 0
    assert result.stderr.startswith("accessportal: configuration error: ")
    assert message in result.stderr and "Traceback" not in result.stderr


def test_the_generated_development_key_is_refused_in_production(tmp_path):
    dev_key = tmp_path / ".dev-secret-key"
    dev_key.write_text(STRONG_KEY + "\n")
    with pytest.raises(ImproperlyConfigured, match="development key"):
        production_secret_key(STRONG_KEY, dev_key)
    assert production_secret_key(secrets.token_urlsafe(50), dev_key)


def test_an_unreadable_development_key_file_is_a_configuration_error_not_a_traceback(tmp_path):
    """A .dev-secret-key another user made (root, mode 600) cannot be read by the service
    user; a folder in its place fails the same way, even for root."""
    unreadable = tmp_path / ".dev-secret-key"
    unreadable.mkdir()
    with pytest.raises(ImproperlyConfigured, match=r"cannot read .*\.dev-secret-key .*delete it"):
        production_secret_key(STRONG_KEY, unreadable)
    with pytest.raises(ImproperlyConfigured, match="set DJANGO_SECRET_KEY"):
        development_secret_key(unreadable)
    made = tmp_path / "made"
    assert development_secret_key(made) == made.read_text().strip()
    assert made.stat().st_mode & 0o777 == 0o600


_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="access.example.com")
plain = client.get("/")
tls = client.get("/", secure=True)
proxied = client.get("/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "tls": [tls.status_code, dict(tls.headers)],
    "proxied": proxied.status_code,
    "cookies": [settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY,
                settings.CSRF_COOKIE_SECURE],
}))
"""


def test_production_responses_are_tls_only_and_carry_security_headers():
    result = _run(
        ["-c", _PROBE],
        DJANGO_SETTINGS_MODULE="accessportal.settings",
        **_production(SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"),
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])

    assert probe["plain"] == [301, "https://access.example.com/"]  # SSL redirect
    status, headers = probe["tls"]
    assert status == 302  # the home page's own redirect, served over TLS
    # includeSubDomains and preload are opt-in (tests/deploy/test_settings_checks.py)
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp and "unsafe-inline" not in csp
    assert probe["proxied"] == 302, "the proxy's X-Forwarded-Proto counts as TLS"
    assert probe["cookies"] == [True, True, True]  # session + CSRF cookies: Secure, HttpOnly


_HEALTH_PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="access.example.com")
healthz = client.get("/healthz")
readyz = client.get("/readyz")
print(json.dumps({
    "healthz": [healthz.status_code, healthz.get("Location"), healthz.content.decode()],
    "readyz": [readyz.status_code, readyz.get("Location"), readyz.content.decode()],
}))
"""


def test_probes_answer_over_plain_http_in_production():
    """A load balancer or kubelet probes over plain HTTP: /healthz and /readyz are exempt
    from the SSL redirect, need no sign-in, and show no secret from the settings."""
    result = _run(
        ["-c", _HEALTH_PROBE],
        DJANGO_SETTINGS_MODULE="accessportal.settings",
        CELERY_BROKER_URL="redis://:hunter2-prod-broker@127.0.0.1:9/0",  # nothing listens
        **_production(),
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["healthz"] == [200, None, '{"status": "ok"}']
    status, location, body = probe["readyz"]
    assert (status, location) == (503, None)
    checks = {c["name"]: c for c in json.loads(body)["checks"]}
    assert checks["migrations"]["state"] == "fail"
    assert checks["broker"]["state"] == "fail"
    assert "hunter2" not in body and STRONG_KEY not in body
