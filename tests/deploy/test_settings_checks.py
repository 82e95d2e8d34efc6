"""Production refuses a bad environment with one clear line and exit status 2, from every
process the deployment guide starts: manage.py, gunicorn (its master, before it binds) and
Celery (worker, beat, report). Real subprocesses, as systemd or a container would run them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_process import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PREFIX = "accessportal: configuration error: "
NO_CACHE = PREFIX + (
    "CACHE_URL must be set in production (a redis:// URL shared by all web processes)"
)
NO_NOTIFY_URL = PREFIX + (
    "NOTIFY_REQUEST_URL must be set in production (the link to a request in notifications, "
    "e.g. https://access.example.com/requests/{id}/)"
)
NO_DATABASE = PREFIX + (
    "DATABASE_URL must be set in production (postgres://USER:PASSWORD@HOST:5432/NAME); "
    "SQLite is for development only"
)
# Django's RedisCache connects on first use: nothing here talks to this Redis.
CACHE_URL = os.environ.get("ACCESSPORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/1")
# Nothing here queries the database either: nothing listens on port 9, so a query would fail.
DATABASE_URL = "postgres://accessportal@127.0.0.1:9/accessportal"
_OURS = ("DJANGO_", "SECURE_", "CACHE_URL", "NOTIFY_REQUEST_URL", "ACCESSPORTAL_MODE", "DEBUG",
         "METRICS_", "DATABASE_URL")  # fmt: skip


def production(**changes: str) -> dict[str, str]:
    """A complete production environment, with `changes` applied ("" removes a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env |= {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "access.example.com",
        "DATABASE_URL": DATABASE_URL,
        "CACHE_URL": CACHE_URL,
        "NOTIFY_REQUEST_URL": "https://access.example.com/requests/{id}/",
        "METRICS_TOKEN": secrets.token_urlsafe(32),  # production warns without it
        "CELERY_BROKER_URL": "redis://127.0.0.1:9/0",  # nothing listens: never reached here
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_WORKERS": "1",
    }
    env |= changes
    return {k: v for k, v in env.items() if v != ""}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


MANAGE_CHECK = [sys.executable, "manage.py", "check"]
GUNICORN = [str(BIN / "gunicorn"), "accessportal.wsgi", "-c", "deploy/gunicorn.conf.py"]
PROCESSES = {
    "manage.py check": MANAGE_CHECK,
    "gunicorn --check-config": [*GUNICORN, "--check-config"],
    "gunicorn": GUNICORN,  # a real start: the master stops before it binds
    "celery report": [str(BIN / "celery"), "-A", "accessportal", "report"],
    "celery worker": [str(BIN / "celery"), "-A", "accessportal", "worker", "--concurrency=1"],
    "celery beat": [str(BIN / "celery"), "-A", "accessportal", "beat"],
}


@pytest.mark.parametrize("command", PROCESSES.values(), ids=PROCESSES.keys())
def test_production_without_cache_url_stops_with_one_line_and_status_2(command):
    result = run(command, production(CACHE_URL=""))
    assert result.returncode == 2, result.stdout + result.stderr
    assert stderr_lines(result) == [NO_CACHE]
    assert "Listening at" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", PROCESSES.values(), ids=PROCESSES.keys())
def test_production_without_notify_request_url_stops_with_one_line_and_status_2(command):
    result = run(command, production(NOTIFY_REQUEST_URL=""))
    assert result.returncode == 2, result.stdout + result.stderr
    assert stderr_lines(result) == [NO_NOTIFY_URL]


@pytest.mark.parametrize("command", PROCESSES.values(), ids=PROCESSES.keys())
def test_production_without_database_url_stops_instead_of_using_sqlite(command):
    result = run(command, production(DATABASE_URL=""))
    assert result.returncode == 2, result.stdout + result.stderr
    assert stderr_lines(result) == [NO_DATABASE]
    assert "Listening at" not in result.stdout + result.stderr


def test_production_refuses_a_sqlite_database_url():
    result = run(MANAGE_CHECK, production(DATABASE_URL="sqlite:////var/lib/accessportal/db"))
    assert result.returncode == 2
    assert stderr_lines(result) == [NO_DATABASE.replace("must be set", "must be a PostgreSQL URL")]


def test_every_missing_requirement_is_named_on_the_one_line():
    result = run(MANAGE_CHECK, production(DATABASE_URL="", CACHE_URL="", NOTIFY_REQUEST_URL=""))
    assert result.returncode == 2
    assert stderr_lines(result) == [
        "; ".join([NO_DATABASE, NO_NOTIFY_URL.removeprefix(PREFIX), NO_CACHE.removeprefix(PREFIX)])
    ]


def test_a_complete_production_environment_starts():
    """The control for the refusals above: the same commands accept a complete environment."""
    env = production()
    checked = run(MANAGE_CHECK, env)
    assert checked.returncode == 0, checked.stderr
    assert run(PROCESSES["gunicorn --check-config"], env).returncode == 0
    report = run(PROCESSES["celery report"], env)
    assert report.returncode == 0, report.stderr
    assert "software -> celery" in report.stdout


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://access.example.com/requests/{id}/", "must be an absolute https:// URL"),
        ("/requests/{id}/", "must be an absolute https:// URL"),
        ("https://access.example.com/requests/", "containing {id}"),
        ("https://access.example.com/requests/{pk}/", "may hold no braces but {id}"),
    ],
    ids=["http", "relative", "no-id", "other-placeholder"],
)
def test_production_refuses_a_notify_request_url_that_makes_broken_links(url, message):
    result = run(MANAGE_CHECK, production(NOTIFY_REQUEST_URL=url))
    assert result.returncode == 2
    [line] = stderr_lines(result)
    assert line.startswith(PREFIX + "NOTIFY_REQUEST_URL ") and message in line


@pytest.mark.parametrize("token", ["change-me", "short-token", "a" * 40])
def test_production_refuses_a_guessable_metrics_token(token):
    result = run(MANAGE_CHECK, production(METRICS_TOKEN=token))
    assert result.returncode == 2
    [line] = stderr_lines(result)
    assert line.startswith(PREFIX + "METRICS_TOKEN is too weak for production")
    assert token not in line


def test_a_cache_url_that_is_not_redis_is_refused_in_any_mode():
    for env in (production(CACHE_URL="memcached://127.0.0.1:11211"),
                {**production(ACCESSPORTAL_MODE="development"),
                 "CACHE_URL": "memcached://127.0.0.1:11211"}):  # fmt: skip
        result = run(MANAGE_CHECK, env)
        assert result.returncode == 2
        assert stderr_lines(result) == [
            PREFIX + "CACHE_URL must be a redis://, rediss:// or unix:// URL"
        ]


def test_gunicorn_without_the_config_file_stops_too_without_a_traceback(tmp_path):
    """Started without deploy/gunicorn.conf.py, the check happens in the worker: it prints
    the line and exits 4, gunicorn's "App failed to load", so the master stops instead of
    booting workers for ever."""
    # XDG_RUNTIME_DIR: gunicorn >= 25 puts its control socket there, not in ~/.gunicorn.
    env = production(CACHE_URL="", XDG_RUNTIME_DIR=str(tmp_path))
    command = [str(BIN / "gunicorn"), "accessportal.wsgi", "--workers", "1",
               "--bind", env["GUNICORN_BIND"]]  # fmt: skip
    result = run(command, env)
    assert result.returncode == 4
    assert NO_CACHE in result.stderr.splitlines()
    assert "Traceback" not in result.stderr and "App failed to load" in result.stderr


_HSTS = """
import django
django.setup()
from django.test import Client
print(Client(HTTP_HOST="access.example.com").get("/healthz", secure=True).get(
    "Strict-Transport-Security"))
"""


def hsts_header(**env: str) -> str:
    result = run(
        [sys.executable, "-c", _HSTS],
        production(DJANGO_SETTINGS_MODULE="accessportal.settings", **env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_hsts_include_subdomains_and_preload_are_opt_in():
    assert hsts_header() == "max-age=31536000"
    assert hsts_header(SECURE_HSTS_INCLUDE_SUBDOMAINS="true") == (
        "max-age=31536000; includeSubDomains"
    )
    assert hsts_header(SECURE_HSTS_INCLUDE_SUBDOMAINS="true", SECURE_HSTS_PRELOAD="true") == (
        "max-age=31536000; includeSubDomains; preload"
    )


def test_hsts_preload_without_subdomains_is_refused():
    result = run(MANAGE_CHECK, production(SECURE_HSTS_PRELOAD="true"))
    assert result.returncode == 2
    [line] = stderr_lines(result)
    assert line.startswith(PREFIX + "SECURE_HSTS_PRELOAD needs SECURE_HSTS_INCLUDE_SUBDOMAINS")


def test_check_deploy_stays_clean_with_hsts_subdomains_and_preload_off():
    result = run([*MANAGE_CHECK, "--deploy", "--fail-level", "WARNING"], production())
    assert result.returncode == 0, result.stderr


_DEBUG = "from django.conf import settings; print(settings.DEBUG)"


def debug_setting(env: dict[str, str]) -> str:
    result = run([sys.executable, "manage.py", "shell", "-c", _DEBUG], env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


def test_django_debug_is_the_only_debug_switch():
    """DJANGO_DEBUG turns DEBUG on or off; a bare DEBUG variable (Node's `debug` module and
    others use that name) changes nothing, in either mode."""
    development = production(ACCESSPORTAL_MODE="development")
    assert debug_setting(development) == "True"
    assert debug_setting(development | {"DJANGO_DEBUG": "0"}) == "False"
    assert debug_setting(development | {"DEBUG": "0"}) == "True"
    assert debug_setting(production(DEBUG="1")) == "False"
    refused = run(MANAGE_CHECK, production(DJANGO_DEBUG="1"))
    assert refused.returncode == 2
    assert stderr_lines(refused) == [PREFIX + "DJANGO_DEBUG must be off in production mode"]


_SIGN = "from django.core import signing; print(signing.dumps('session of alice'))"
_LOAD = "import sys; from django.core import signing; print(signing.loads(sys.argv[-1]))"


def test_a_rotated_secret_key_still_accepts_what_the_old_one_signed_while_it_is_a_fallback():
    """Sessions, password-reset links and signed cookies survive a SECRET_KEY rotation while
    the old key is in DJANGO_SECRET_KEY_FALLBACKS (docs/deploy.md), and not after."""
    old, new = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    signed = run([sys.executable, "manage.py", "shell", "-c", _SIGN],
                 production(DJANGO_SECRET_KEY=old))  # fmt: skip
    token = signed.stdout.split()[-1]

    def load(**env: str) -> subprocess.CompletedProcess:
        return run([sys.executable, "-c", f"import django; django.setup(); {_LOAD}", token],
                   production(DJANGO_SETTINGS_MODULE="accessportal.settings", **env))  # fmt: skip

    kept = load(DJANGO_SECRET_KEY=new, DJANGO_SECRET_KEY_FALLBACKS=old)
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == "session of alice"
    dropped = load(DJANGO_SECRET_KEY=new)
    assert dropped.returncode != 0 and "BadSignature" in dropped.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgres://portal:hunter2-db-password@db.internal:notaport/portal"},
        {"CACHE_URL": "memcached://portal:hunter2-cache-password@cache.internal:11211"},
        {"DATABASE_URL": "mysqlx://portal:hunter2-db-password@db.internal/portal"},
    ],
    ids=["database-port", "cache-scheme", "database-scheme"],
)
def test_the_error_line_names_the_setting_but_not_its_secret(env):
    result = run(MANAGE_CHECK, production(**env))
    assert result.returncode == 2
    [line] = stderr_lines(result)
    assert line.startswith(PREFIX) and next(iter(env)) in line
    assert "hunter2" not in result.stdout + result.stderr
