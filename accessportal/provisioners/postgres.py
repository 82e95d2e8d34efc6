"""PostgreSQL roles: `GRANT role TO login` while access lasts, `REVOKE` when it ends.

Target settings (docs/provisioning.md, "PostgreSQL roles"):
    dsn_env             the environment variable holding a libpq DSN or URL of an admin
                        connection (CREATEROLE, or ADMIN OPTION on the role in PostgreSQL 16+)
    role                the group role to grant
    login               the member's login, a template: "{username}" (default), "{email_local}"
    terminate_sessions  on revoke, end every session of the login (pg_signal_backend)
    timeout             seconds a call may take (connect and each statement)

Logins are never created here: a login that does not exist is an error that retrying
cannot fix. `members` lists the logins (roles that can log in) that are direct members of
the role; group roles nested in it are left alone, managed or not.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from accessportal.provisioners.base import (
    Principal,
    ProvisionError,
    Target,
    redact,
    secret_env,
    target_timeout,
)
from accessportal.provisioners.common import (
    account_name,
    env_problem,
    template_problem,
    timeout_problem,
    unknown_problems,
)

SETTINGS = ("dsn_env", "role", "login", "terminate_sessions", "timeout")
DEFAULT_LOGIN = "{username}"
MAX_IDENTIFIER = 63  # bytes (NAMEDATALEN - 1): PostgreSQL truncates longer names
APPLICATION_NAME = "accessportal-provisioner"

_ROLE_EXISTS = "SELECT 1 FROM pg_roles WHERE rolname = %s"
# The role and the login are looked up by name first, so that pg_auth_members is read
# through its (roleid, member) index: joined by name, PostgreSQL scans every membership of
# the role (7 ms per call with 10,000 members, three calls per revoke; 0.1 ms this way).
_GRANTORS = """
    SELECT g.rolname FROM pg_auth_members am
    JOIN pg_roles g ON g.oid = am.grantor
    WHERE am.roleid = (SELECT oid FROM pg_roles WHERE rolname = %s)
      AND am.member = (SELECT oid FROM pg_roles WHERE rolname = %s)
"""
_MEMBERS = """
    SELECT DISTINCT m.rolname FROM pg_auth_members am
    JOIN pg_roles r ON r.oid = am.roleid
    JOIN pg_roles m ON m.oid = am.member
    WHERE r.rolname = %s AND m.rolcanlogin
"""
_TERMINATE = """
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE usename = %s AND pid <> pg_backend_pid()
"""


def _identifier_problem(value: object, setting: str) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{setting} is required: the name of a PostgreSQL role"
    if len(value.encode()) > MAX_IDENTIFIER or "\x00" in value:
        return (
            f"{setting} must be at most {MAX_IDENTIFIER} bytes (PostgreSQL truncates longer names)"
        )
    return None


class _Watchdog:
    """Ends a call that outlives its deadline: shuts the connection's socket down, so a
    server that stops answering mid-statement cannot hold a worker (statement_timeout
    covers a busy server; this covers a silent one)."""

    def __init__(self, conn: psycopg.Connection, seconds: float) -> None:
        self.fired = False
        self._fd = conn.pgconn.socket
        self._timer = threading.Timer(max(seconds, 0.05), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(OSError):
            sock = socket.socket(fileno=os.dup(self._fd))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.close()

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        self._timer.join()  # a firing watchdog finishes before the connection (and fd) closes


class PostgresProvisioner:
    """Membership of logins in one group role of one PostgreSQL server."""

    def check(self, target: Target) -> list[str]:
        problems = [
            *unknown_problems(target, SETTINGS, "postgres"),
            env_problem(target, "dsn_env", "the admin connection's DSN"),
            _identifier_problem(target.get("role"), "role"),
            template_problem(target.get("login", DEFAULT_LOGIN), "login"),
            None
            if isinstance(target.get("terminate_sessions", False), bool)
            else "terminate_sessions must be true or false",
            timeout_problem(target),
        ]
        return [p for p in problems if p]

    def describe(self, target: Target) -> str:
        return f"PostgreSQL role {target.get('role')} ({target.get('dsn_env')})"

    def account(self, user: Principal, target: Target) -> str:
        return account_name(user, target.get("login", DEFAULT_LOGIN))

    def grant(self, account: str, target: Target) -> None:
        role = target["role"]
        with self._session(target) as cur:
            self._require_role(cur, target)
            self._require_login(cur, account, target)
            if self._grantors(cur, role, account):
                return  # a member already: GRANT again would warn, or on 16+ add a row
            self._execute(cur, sql.SQL("GRANT {} TO {}"), role, account)

    def revoke(self, account: str, target: Target) -> None:
        role = target["role"]
        with self._session(target) as cur:
            self._require_role(cur, target)
            if _identifier_problem(account, "login") is None and self._exists(cur, account):
                self._revoke(cur, role, account)
            if target.get("terminate_sessions"):
                self._terminate(cur, account)

    def members(self, target: Target) -> set[str]:
        with self._session(target) as cur:
            self._require_role(cur, target)
            cur.execute(_MEMBERS, (target["role"],))
            return {name for (name,) in cur.fetchall()}

    def probe(self, target: Target) -> None:
        with self._session(target) as cur:
            self._require_role(cur, target)

    # --- one connection per call, bounded in time -----------------------------------------

    @contextlib.contextmanager
    def _session(self, target: Target) -> Iterator[psycopg.Cursor]:
        seconds = target_timeout(target)
        deadline = time.monotonic() + seconds
        params = self._params(target, seconds)
        password = params.get("password") or ""
        watchdog = None
        try:
            with psycopg.connect(**params, autocommit=True) as conn:
                remaining = deadline - time.monotonic()
                with _Watchdog(conn, remaining) as watchdog, conn.cursor() as cur:
                    yield cur
        except ProvisionError:
            raise
        except (errors.QueryCanceled, errors.LockNotAvailable):
            raise ProvisionError(f"{self.describe(target)}: timed out after {seconds:g}s") from None
        except errors.InsufficientPrivilege as err:
            raise ProvisionError(
                self._message(err, target, password, hint=_PRIVILEGE_HINT), retry=False
            ) from None
        except psycopg.Error as err:
            if watchdog is not None and watchdog.fired:
                message = f"{self.describe(target)}: timed out after {seconds:g}s"
                raise ProvisionError(message) from None
            raise ProvisionError(self._message(err, target, password)) from None

    def _params(self, target: Target, seconds: float) -> dict:
        dsn = secret_env(target, "dsn_env")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.Error:
            # libpq's parse error quotes the string it could not read: never show it
            raise ProvisionError(
                f"the environment variable {target['dsn_env']} (dsn_env) does not hold a "
                "valid libpq connection string or postgres:// URL",
                retry=False,
            ) from None
        millis = max(1, int(seconds * 1000))
        options = f"-c statement_timeout={millis} -c lock_timeout={millis}"
        params["options"] = f"{params.get('options', '')} {options}".strip()
        params["connect_timeout"] = max(2, math.ceil(seconds))  # libpq's minimum is 2
        params.setdefault("application_name", APPLICATION_NAME)
        return params

    def _message(self, err: Exception, target: Target, password: str, hint: str = "") -> str:
        text = " ".join(str(err).split())
        if len(password) >= 4:
            text = text.replace(password, "***")
        text = redact(text, target)[:400]
        return f"{self.describe(target)}: {text}{hint}"

    # --- statements ---------------------------------------------------------------------------

    def _exists(self, cur: psycopg.Cursor, name: str) -> bool:
        cur.execute(_ROLE_EXISTS, (name,))
        return cur.fetchone() is not None

    def _require_role(self, cur: psycopg.Cursor, target: Target) -> None:
        if not self._exists(cur, target["role"]):
            raise ProvisionError(
                f"{self.describe(target)}: the role {target['role']} does not exist", retry=False
            )

    def _require_login(self, cur: psycopg.Cursor, account: str, target: Target) -> None:
        problem = _identifier_problem(account, "the login")
        if problem is None and not self._exists(cur, account):
            problem = f"the login {account} does not exist (logins are not created here)"
        if problem:
            raise ProvisionError(f"{self.describe(target)}: {problem}", retry=False)

    def _grantors(self, cur: psycopg.Cursor, role: str, account: str) -> list[str]:
        cur.execute(_GRANTORS, (role, account))
        return [name for (name,) in cur.fetchall()]

    def _execute(self, cur: psycopg.Cursor, statement: sql.SQL, *names: str) -> None:
        cur.execute(statement.format(*(sql.Identifier(n) for n in names)))

    def _revoke(self, cur: psycopg.Cursor, role: str, account: str) -> None:
        """REVOKE; on PostgreSQL 16+ a membership is one row per grantor and a plain REVOKE
        removes only the connection's own grant, so the others are revoked by name."""
        grantors = self._grantors(cur, role, account)
        if not grantors:
            return
        self._execute(cur, sql.SQL("REVOKE {} FROM {}"), role, account)
        for grantor in self._grantors(cur, role, account):
            self._execute(cur, sql.SQL("REVOKE {} FROM {} GRANTED BY {}"), role, account, grantor)
        left = self._grantors(cur, role, account)
        if left:
            raise ProvisionError(
                f"{account} is still a member of {role} (granted by {', '.join(left)}), "
                "which this connection may not revoke",
                retry=False,
            )

    def _terminate(self, cur: psycopg.Cursor, account: str) -> None:
        cur.execute(_TERMINATE, (account,))


_PRIVILEGE_HINT = (
    " (the admin connection needs CREATEROLE, or ADMIN OPTION on the role in PostgreSQL 16+, "
    "and membership in pg_signal_backend to end sessions)"
)
