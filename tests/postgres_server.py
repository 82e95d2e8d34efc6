"""The local PostgreSQL server itself, for tests that talk to it directly whatever
DATABASE_URL says (the PostgreSQL provisioner's tests create their own database, roles and
logins there): the server of DATABASE_URL when that is PostgreSQL, else 127.0.0.1:5432 as
user postgres. Marked `@pytest.mark.postgres(direct=True)`: skipped when the server cannot
be reached, failed instead under ACCESSPORTAL_REQUIRE_SERVICES=1 (tests/conftest.py)."""

from __future__ import annotations

import functools
import os

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_conninfo(dbname: str = "postgres") -> str:
    """A superuser connection to `dbname` on the test server."""
    url = os.environ.get("DATABASE_URL", "")
    base = url if url.startswith(("postgres://", "postgresql://")) else DEFAULT
    params = conninfo_to_dict(base)
    params["dbname"] = dbname
    return make_conninfo(**params)


@functools.cache
def postgres_reachable() -> bool:
    try:
        with psycopg.connect(admin_conninfo(), connect_timeout=3):
            return True
    except psycopg.Error:
        return False
