"""DATABASE_URL: a relative SQLite path, the default included, lands in the project folder
(not the filesystem root, not the working directory); PostgreSQL URLs keep their options.

Settings are read once per process, so the settings themselves are read in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accessportal.envconfig import database_from_url

ROOT = Path(__file__).resolve().parents[2]


def _settings_database(tmp_path: Path, url: str | None) -> dict:
    """DATABASES["default"] as a fresh process sees it, started from another directory."""
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url is not None:
        environ["DATABASE_URL"] = url
    environ |= {"DJANGO_SETTINGS_MODULE": "accessportal.settings", "PYTHONPATH": str(ROOT)}
    code = (
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.DATABASES['default'], default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_without_database_url_the_sqlite_file_is_in_the_project_folder(tmp_path):
    database = _settings_database(tmp_path, None)
    # django-prometheus' subclass of Django's backend, counting queries (docs/operations.md)
    assert database["ENGINE"] == "django_prometheus.db.backends.sqlite3"
    assert database["NAME"] == str(ROOT / "db.sqlite3")
    assert database["OPTIONS"] == {"timeout": 20, "transaction_mode": "IMMEDIATE"}


def test_metrics_db_queries_off_keeps_djangos_own_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_DB_QUERIES", "false")
    assert _settings_database(tmp_path, None)["ENGINE"] == "django.db.backends.sqlite3"


def test_the_instrumented_backend_of_each_engine():
    url = "postgres://u@db.internal:5432/access"
    assert database_from_url(url, ROOT, instrumented=True)["ENGINE"] == (
        "django_prometheus.db.backends.postgresql"
    )
    assert database_from_url(url, ROOT)["ENGINE"] == "django.db.backends.postgresql"


def test_a_relative_sqlite_url_is_relative_to_the_project_folder(tmp_path):
    database = _settings_database(tmp_path, "sqlite:///var/demo.sqlite3")
    assert database["NAME"] == str(ROOT / "var" / "demo.sqlite3")


def test_an_absolute_sqlite_url_is_kept(tmp_path):
    target = tmp_path / "elsewhere.sqlite3"
    assert database_from_url(f"sqlite:///{target}", ROOT)["NAME"] == str(target)


def test_postgres_url_gives_every_part_and_conn_max_age():
    database = database_from_url(
        "postgres://ap%40user:p%2Fss@db.internal:6432/access?conn_max_age=60&sslmode=require",
        ROOT,
    )
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == (
        "access",
        "ap@user",
        "p/ss",
    )
    assert (database["HOST"], str(database["PORT"])) == ("db.internal", "6432")
    assert database["CONN_MAX_AGE"] == 60
    assert database["OPTIONS"] == {"sslmode": "require"}


def test_postgres_url_without_conn_max_age_closes_connections_per_request():
    assert database_from_url("postgresql://postgres@127.0.0.1/x", ROOT)["CONN_MAX_AGE"] == 0


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://u@h/db", "'mysql' is not supported"),
        ("oracle://u@h/db", "'oracle' is not supported"),
        ("postgres://u@h/", "names no database"),
    ],
)
def test_unusable_database_urls_are_refused_with_a_clear_message(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        database_from_url(url, ROOT)
