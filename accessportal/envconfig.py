"""Typed readers for settings that come from environment variables.

Each helper returns the default when the variable is unset or empty, and fails loudly
(ImproperlyConfigured) when it is set to something it cannot read.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_ENGINES = {"django.db.backends.postgresql", "django.db.backends.sqlite3"}
_READ: set[str] = set()  # every name read through these helpers (the portal's own settings)


def names_read() -> frozenset[str]:
    """The environment variables the portal's settings have read so far (every helper
    here records the name it reads): provisioners refuse to point a secret at them."""
    return frozenset(_READ)


def env_str(name: str, default: str = "") -> str:
    _READ.add(name)
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool) -> bool:
    value = env_str(name).lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true or false)")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = env_str(name)
    if not value:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def database_from_url(url: str, base_dir: Path, *, instrumented: bool = False) -> dict:
    """A DATABASES entry from `postgres://user:pass@host:port/name[?conn_max_age=N&...]` or
    `sqlite:///path`, parsed by dj-database-url. A relative SQLite path (the default
    `sqlite:///db.sqlite3`) is relative to `base_dir`, the project folder; `sqlite:////abs`
    is absolute. `instrumented`: django-prometheus' subclass of the same backend, which
    counts and times queries (docs/operations.md, "Metrics")."""
    database = _parse(url, base_dir)
    if instrumented:
        backend = database["ENGINE"].rsplit(".", 1)[1]
        database["ENGINE"] = f"django_prometheus.db.backends.{backend}"
    return database


def _parse(url: str, base_dir: Path) -> dict:
    try:
        database = dj_database_url.parse(url)
    except ValueError as error:  # an unknown scheme or an unparsable URL
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {error}") from None
    engine = database["ENGINE"]
    if engine not in _ENGINES:
        scheme = url.partition(":")[0]
        raise ImproperlyConfigured(
            f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite:///)"
        )
    options = database.pop("OPTIONS", {})
    if engine == "django.db.backends.sqlite3":
        name = database["NAME"]
        if name and name != ":memory:" and not Path(name).is_absolute():
            database["NAME"] = str(base_dir / name)
        # IMMEDIATE: a transaction takes the write lock when it begins, so the web server
        # and the demo's worker wait for each other instead of failing with "database is
        # locked" when both upgrade a read to a write.
        return database | {"OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"}}
    if not database["NAME"]:
        raise ImproperlyConfigured("DATABASE_URL names no database (postgres://.../NAME)")
    try:
        database["CONN_MAX_AGE"] = int(options.pop("conn_max_age", 0))
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL's conn_max_age is not an integer") from None
    return database | {"OPTIONS": options}
