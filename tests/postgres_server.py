"""The local PostgreSQL server itself, for tests that talk to it directly whatever
DATABASE_URL says (the PostgreSQL provisioner's tests create their own database, roles and
logins there): the server of DATABASE_URL when that is PostgreSQL, else 127.0.0.1:5432 as
user postgres. Marked `@pytest.mark.postgres(direct=True)`: skipped when the server cannot
be reached, failed instead under ACCESSPORTAL_REQUIRE_SERVICES=1 (tests/conftest.py)."""

from __future__ import annotations

import functools
import os
import uuid

import psycopg
from psycopg import sql
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


class ScratchDatabase:
    """A test's own database on the local server, and every role it made there (role names
    are cluster-wide: each carries a random suffix), dropped by `drop`."""

    def __init__(self, prefix: str = "ap_prov") -> None:
        self.suffix = uuid.uuid4().hex[:10]
        self.dbname = f"{prefix}_{self.suffix}"
        self.admin = psycopg.connect(admin_conninfo(), autocommit=True)
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
        self.roles: list[str] = []

    def conninfo(self, **changes) -> str:
        params = conninfo_to_dict(admin_conninfo(self.dbname))
        params.update(changes)
        return make_conninfo(**params)

    def role(self, prefix: str, *, login: bool = False, exact: bool = False) -> str:
        """A new role named `prefix`_<suffix>_<n>, or `prefix` itself with `exact`."""
        name = prefix if exact else f"{prefix}_{self.suffix}_{len(self.roles)}"
        kind = sql.SQL("LOGIN" if login else "NOLOGIN")
        self.admin.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(name), kind))
        self.roles.append(name)
        return name

    def members(self, role: str) -> set[str]:
        rows = self.admin.execute(
            "SELECT m.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid "
            "JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = %s",
            (role,),
        ).fetchall()
        return {name for (name,) in rows}

    def sessions(self, login: str) -> int:
        query = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s"
        return self.admin.execute(query, (login,)).fetchone()[0]

    def drop(self) -> None:
        self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid()",
            (self.dbname,),
        )
        self.admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.dbname))
        )
        for name in reversed(self.roles):
            self.admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self.admin.close()
