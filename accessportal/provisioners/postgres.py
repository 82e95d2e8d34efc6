"""PostgreSQL roles: `GRANT role TO login` while access lasts, `REVOKE` when it ends.

Target settings (docs/provisioning.md, "PostgreSQL roles"):
    dsn_env             the environment variable holding a libpq DSN or URL of an admin
                        connection (CREATEROLE, or ADMIN OPTION on the role in PostgreSQL 16+)
    role                the group role to grant
    login               the member's login, a template: "{username}" (default), "{email_local}"
    terminate_sessions  on revoke, end every session of the login (pg_signal_backend)
    unmanaged_members   logins the portal leaves alone in the role and never reports
    timeout             seconds a whole call may take (connecting to every host, and each
                        statement)

Logins are never created here: a login that does not exist, cannot log in (a group role)
or is a superuser is an error that retrying cannot fix. `members` lists the logins (roles
that can log in) that are direct members of the role, except the admin connection's own
login, members holding ADMIN OPTION, superusers and `unmanaged_members`; group roles nested
in it are left alone, managed or not. A role that is, or leads to (by membership, directly
or through other roles), a superuser, a role with CREATEROLE, CREATEDB, REPLICATION or
BYPASSRLS, or any of PostgreSQL's own pg_* roles, or a role holding ADMIN OPTION anywhere on
that chain, is refused: granting it would hand out control of the server or of its roles.
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
from psycopg.conninfo import conninfo_attempts, conninfo_to_dict

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
    unmanaged_members,
    unmanaged_problem,
)

SETTINGS = ("dsn_env", "role", "login", "terminate_sessions", "unmanaged_members", "timeout")
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
_LOGIN = "SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s"
# Direct members that can log in, except the admin's own login, anyone holding ADMIN OPTION
# on the role (who administers it, like the admin) and superusers: never the portal's to revoke.
_MEMBERS = """
    SELECT m.rolname FROM pg_auth_members am
    JOIN pg_roles r ON r.oid = am.roleid
    JOIN pg_roles m ON m.oid = am.member
    WHERE r.rolname = %s AND m.rolcanlogin AND NOT m.rolsuper AND m.rolname <> current_user
    GROUP BY m.rolname HAVING NOT bool_or(am.admin_option)
"""
# The role itself, or any role it is a member of (directly or through others), that has
# an attribute a member could use by SET ROLE to take over the server, or is one of
# PostgreSQL's own predefined roles (pg_*: server files and programs, reading or writing
# every table, signalling backends...).
_DANGEROUS = r"""
    SELECT s.rolname, s.rolsuper, s.rolcreaterole, s.rolcreatedb, s.rolreplication,
           s.rolbypassrls
    FROM pg_roles r JOIN pg_roles s ON pg_has_role(r.oid, s.oid, 'MEMBER')
    WHERE r.rolname = %s AND (s.rolsuper OR s.rolcreaterole OR s.rolcreatedb
          OR s.rolreplication OR s.rolbypassrls OR s.rolname LIKE 'pg\_%%')
    ORDER BY s.oid = r.oid DESC, s.rolname LIMIT 1
"""
# A membership carrying ADMIN OPTION held by the role or any role it leads to: its members
# could grant that role to anyone (and, holding it, administer it).
_ADMIN_CHAIN = """
    SELECT m.rolname, g.rolname FROM pg_roles r
    JOIN pg_auth_members am ON am.admin_option AND pg_has_role(r.oid, am.member, 'MEMBER')
    JOIN pg_roles m ON m.oid = am.member
    JOIN pg_roles g ON g.oid = am.roleid
    WHERE r.rolname = %s
    ORDER BY m.oid = r.oid DESC, m.rolname, g.rolname LIMIT 1
"""
_ATTRIBUTES = ("SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS")
_TERMINATE = """
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE usename = %s AND pid <> pg_backend_pid()
"""


def _role_problem(value: object) -> str | None:
    problem = _identifier_problem(value, "role")
    if problem is None and (value == "postgres" or str(value).startswith("pg_")):
        return (
            f"role {value} is PostgreSQL's own (postgres, pg_*); grant a group role of your "
            "own: a member of these could take over the server"
        )
    return problem


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
            _role_problem(target.get("role")),
            template_problem(target.get("login", DEFAULT_LOGIN), "login"),
            None
            if isinstance(target.get("terminate_sessions", False), bool)
            else "terminate_sessions must be true or false",
            unmanaged_problem(target, "logins"),
            timeout_problem(target),
        ]
        return [p for p in problems if p]

    def identity(self, target: Target) -> dict:
        """The server (by its DSN variable) and the role: other settings change in place."""
        return {"dsn_env": target.get("dsn_env"), "role": target.get("role")}

    def describe(self, target: Target) -> str:
        return f"PostgreSQL role {target.get('role')} ({target.get('dsn_env')})"

    def account(self, user: Principal, target: Target) -> str:
        return account_name(user, target.get("login", DEFAULT_LOGIN))

    def grant(self, account: str, target: Target) -> None:
        role = target["role"]
        with self._session(target) as cur:
            self._require_role(cur, target, safe=True)
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
            return {name for (name,) in cur.fetchall()} - unmanaged_members(target)

    def probe(self, target: Target) -> None:
        with self._session(target) as cur:
            self._require_role(cur, target, safe=True)

    # --- one connection per call, bounded in time -----------------------------------------

    @contextlib.contextmanager
    def _session(self, target: Target) -> Iterator[psycopg.Cursor]:
        seconds = target_timeout(target)
        deadline = time.monotonic() + seconds
        params = self._params(target, seconds)
        password = params.get("password") or ""
        watchdog = None
        try:
            with self._connect(params, deadline, seconds, target) as conn:
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

    def _connect(
        self, params: dict, deadline: float, seconds: float, target: Target
    ) -> psycopg.Connection:
        """Connect trying each host (and address) of the DSN in turn, like libpq, but each
        only with the time left: libpq's connect_timeout counts per host, so a DSN of three
        silent hosts would otherwise take three timeouts. libpq waits at least 2 s, so the
        last attempt may end up to 2 s past the deadline."""
        last: psycopg.Error | None = None
        for attempt in conninfo_attempts(params):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            attempt["connect_timeout"] = max(2, math.ceil(left))
            try:
                return psycopg.connect(**attempt, autocommit=True)
            except psycopg.Error as err:
                last = err
        if last is None or deadline - time.monotonic() <= 0:
            raise ProvisionError(f"{self.describe(target)}: timed out after {seconds:g}s")
        raise last

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

    def _require_role(self, cur: psycopg.Cursor, target: Target, *, safe: bool = False) -> None:
        """The role exists; with `safe`, neither it nor any role it leads to (by membership,
        directly or through others) is a superuser, has CREATEROLE, CREATEDB, REPLICATION or
        BYPASSRLS, is one of PostgreSQL's own pg_* roles, or holds ADMIN OPTION on a role."""
        role = target["role"]
        if not self._exists(cur, role):
            raise ProvisionError(
                f"{self.describe(target)}: the role {role} does not exist", retry=False
            )
        if not safe:
            return
        problem = _role_problem(role) or self._dangerous(cur, role)
        if problem:
            raise ProvisionError(f"{self.describe(target)}: {problem}", retry=False)

    def _dangerous(self, cur: psycopg.Cursor, role: str) -> str | None:
        """What a member of `role` could do that the portal does not hand out (None: nothing)."""
        cur.execute(_DANGEROUS, (role,))
        found = cur.fetchone()
        if found is not None:
            name, flags = found[0], found[1:]
            what = ", ".join(a for a, on in zip(_ATTRIBUTES, flags, strict=True) if on)
            via = "" if name == role else f" through its membership in {name}"
            if not what:  # a pg_* role, reached directly or through others
                what, via = f"the powers of {name}, PostgreSQL's own role,", " by membership"
            return (
                f"the role {role} would give its members {what}{via}; the portal only "
                "grants roles without these powers"
            )
        cur.execute(_ADMIN_CHAIN, (role,))
        found = cur.fetchone()
        if found is not None:
            holder, granted = found
            via = "" if holder == role else f" through its membership in {holder}"
            return (
                f"the role {role} would give its members ADMIN OPTION on {granted}{via} "
                "(they could grant it to anyone); the portal only grants roles without it"
            )
        return None

    def _require_login(self, cur: psycopg.Cursor, account: str, target: Target) -> None:
        """The login exists, can log in (not a group role: granting one would give the
        target to all its members) and is not a superuser."""
        problem = _identifier_problem(account, "the login")
        if problem is None:
            cur.execute(_LOGIN, (account,))
            found = cur.fetchone()
            if found is None:
                problem = f"the login {account} does not exist (logins are not created here)"
            elif not found[0]:
                problem = (
                    f"{account} is a role that cannot log in (a group role), not a login: "
                    "granting it would give the role to all its members"
                )
            elif found[1]:
                problem = f"{account} is a superuser, which the portal does not manage"
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
