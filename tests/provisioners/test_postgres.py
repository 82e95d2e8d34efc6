"""The PostgreSQL provisioner against the local server: a database, group roles and logins
of its own (unique names, dropped after), whatever database the suite itself runs on."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import psycopg
import pytest
from psycopg import sql

from accessportal.provisioners import Principal, ProvisionError, provisioner_get
from accessportal.provisioners.postgres import PostgresProvisioner
from tests.postgres_server import ScratchDatabase as Server

pytestmark = pytest.mark.postgres(direct=True)

DSN_ENV = "PROVISION_TEST_DSN"
PASSWORD = "Sup3r-s3cret-pw"


@pytest.fixture(scope="module")
def server():
    made = Server()
    yield made
    made.drop()


@pytest.fixture
def target(server, monkeypatch):
    """A group role the provisioner administers over an admin DSN held in the environment."""
    monkeypatch.setenv(DSN_ENV, server.conninfo())
    return {"dsn_env": DSN_ENV, "role": server.role("billing_admin"), "timeout": 5}


@pytest.fixture
def prov():
    return PostgresProvisioner()


def test_the_entry_point_names_it(prov):
    assert isinstance(provisioner_get("postgres"), PostgresProvisioner)


def test_grant_and_revoke_are_idempotent(server, target, prov):
    login = server.role("alice", login=True)
    prov.grant(login, target)
    prov.grant(login, target)
    assert server.members(target["role"]) == {login}
    assert prov.members(target) == {login}

    prov.revoke(login, target)
    prov.revoke(login, target)
    assert server.members(target["role"]) == set()
    assert prov.members(target) == set()


def test_members_lists_the_logins_added_by_hand_too_but_not_nested_groups(server, target, prov):
    granted, by_hand = server.role("bob", login=True), server.role("eve", login=True)
    nested = server.role("auditors")
    prov.grant(granted, target)
    for member in (by_hand, nested):
        server.admin.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(target["role"]), sql.Identifier(member))
        )
    assert prov.members(target) == {granted, by_hand}
    prov.revoke(by_hand, target)  # what the reconciler does to a managed target's extra
    assert server.members(target["role"]) == {granted, nested}


def test_a_login_that_does_not_exist_is_refused_for_good(server, target, prov):
    with pytest.raises(ProvisionError) as refused:
        prov.grant(f"nobody_{server.suffix}", target)
    assert refused.value.retry is False
    assert f"the login nobody_{server.suffix} does not exist" in str(refused.value)
    prov.revoke(f"nobody_{server.suffix}", target)  # nothing to take away: fine


def test_an_unknown_role_is_refused_by_every_call(server, target, prov):
    login = server.role("carol", login=True)
    target = {**target, "role": f"no_such_role_{server.suffix}"}
    for call in (
        lambda: prov.grant(login, target),
        lambda: prov.revoke(login, target),
        lambda: prov.members(target),
        lambda: prov.probe(target),
    ):
        with pytest.raises(ProvisionError) as refused:
            call()
        assert refused.value.retry is False
        assert f"the role no_such_role_{server.suffix} does not exist" in str(refused.value)


def test_probe_reaches_a_role_that_exists(target, prov):
    prov.probe(target)


def test_quoting_keeps_odd_names_intact(server, target, prov):
    login = server.role('Dana "D" O\'Neil', login=True)
    prov.grant(login, target)
    assert prov.members(target) == {login}
    prov.revoke(login, target)
    assert prov.members(target) == set()


def _session_as(server, login: str) -> psycopg.Connection:
    return psycopg.connect(server.conninfo(user=login), autocommit=True)


def test_terminate_sessions_ends_the_logins_open_session(server, target, prov):
    login = server.role("frank", login=True)
    prov.grant(login, target)
    session = _session_as(server, login)
    assert session.execute("SELECT pg_has_role(%s, 'MEMBER')", (target["role"],)).fetchone()[0]

    prov.revoke(login, {**target, "terminate_sessions": True})

    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    assert server.sessions(login) == 0
    assert server.members(target["role"]) == set()


def test_without_terminate_sessions_an_open_session_stays(server, target, prov):
    login = server.role("grace", login=True)
    prov.grant(login, target)
    with _session_as(server, login) as session:
        prov.revoke(login, target)
        assert session.execute("SELECT 1").fetchone() == (1,)
        assert not session.execute(
            "SELECT pg_has_role(%s, 'MEMBER')", (target["role"],)
        ).fetchone()[0]


def test_an_admin_with_the_documented_privileges_suffices(server, target, prov, monkeypatch):
    """CREATEROLE (PostgreSQL 15) and pg_signal_backend, no superuser (docs/provisioning.md)."""
    admin = server.role("provisioner", login=True)
    server.admin.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(admin)))
    server.admin.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(admin)))
    monkeypatch.setenv(DSN_ENV, server.conninfo(user=admin))
    login = server.role("heidi", login=True)
    session = _session_as(server, login)
    prov.grant(login, target)
    assert prov.members(target) == {login}
    prov.revoke(login, {**target, "terminate_sessions": True})
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    session.close()
    assert server.members(target["role"]) == set()


def test_an_admin_without_privileges_is_told_what_it_needs(server, target, prov, monkeypatch):
    weak = server.role("weak", login=True)
    monkeypatch.setenv(DSN_ENV, server.conninfo(user=weak))
    login = server.role("ivan", login=True)
    with pytest.raises(ProvisionError) as refused:
        prov.grant(login, target)
    assert refused.value.retry is False
    assert "needs CREATEROLE" in str(refused.value)


@pytest.mark.parametrize(
    "how",
    ["echoed by the server", "in a URL", "in an unreadable DSN", "on a closed port"],
)
def test_the_dsn_and_its_password_never_appear_in_errors(server, target, prov, monkeypatch, how):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dsn = {
        # the server quotes the database name it cannot find: here, the password
        "echoed by the server": server.conninfo(password=PASSWORD, dbname=PASSWORD),
        "in a URL": f"postgresql://nobody_{server.suffix}:{PASSWORD}@127.0.0.1:5432/x",
        "in an unreadable DSN": f"host=127.0.0.1 password={PASSWORD} {PASSWORD}",
        "on a closed port": f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed}/x",
    }[how]
    monkeypatch.setenv(DSN_ENV, dsn)
    login = server.role("judy", login=True)
    for call in (lambda: prov.grant(login, target), lambda: prov.members(target)):
        with pytest.raises(ProvisionError) as failed:
            call()
        message = str(failed.value)
        assert PASSWORD not in message
        assert dsn not in message
        assert DSN_ENV in message  # says which setting to look at


def test_a_missing_dsn_variable_is_named(target, prov, monkeypatch):
    monkeypatch.delenv(DSN_ENV)
    with pytest.raises(ProvisionError, match=f"{DSN_ENV} \\(dsn_env\\) is not set") as failed:
        prov.probe(target)
    assert failed.value.retry is False


@contextlib.contextmanager
def _silent_server():
    """A TCP port that accepts connections and never says a word (a hung server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_hung_server_fails_within_the_timeout(target, prov, monkeypatch):
    with _silent_server() as port:
        monkeypatch.setenv(DSN_ENV, f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/x")
        started = time.monotonic()
        with pytest.raises(ProvisionError) as failed:
            prov.grant("anyone", {**target, "timeout": 2})
        took = time.monotonic() - started
    assert failed.value.retry is True
    assert PASSWORD not in str(failed.value)
    assert took < 2 + 3, f"a 2 s timeout took {took:.1f} s"  # a bound, not a speed


@contextlib.contextmanager
def _proxy_that_goes_silent():
    """A TCP proxy to the server that passes the sign-in through, then swallows the first
    query and everything after it: a server that stops answering mid-call, which neither
    connect_timeout nor statement_timeout can end (the server never sees the query)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    sockets: list[socket.socket] = []

    def pump(source: socket.socket, sink: socket.socket, *, client: bool) -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set():
                data = source.recv(65536)
                if not data:
                    return
                if client and data[:1] in (b"P", b"Q"):  # Parse / Query: go silent
                    stop.wait()
                    return
                sink.sendall(data)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", 5432))
            sockets.extend([conn, upstream])
            for args in ((conn, upstream, True), (upstream, conn, False)):
                threading.Thread(
                    target=pump, args=args[:2], kwargs={"client": args[2]}, daemon=True
                ).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()
        listener.close()


def test_a_server_that_goes_silent_mid_call_is_cut_off_at_the_timeout(
    server, target, prov, monkeypatch
):
    with _proxy_that_goes_silent() as port:
        monkeypatch.setenv(DSN_ENV, server.conninfo(port=str(port), sslmode="disable"))
        started = time.monotonic()
        with pytest.raises(ProvisionError, match="timed out after 2s") as failed:
            prov.members({**target, "timeout": 2})
        took = time.monotonic() - started
    assert failed.value.retry is True
    assert took < 2 + 3, f"a 2 s timeout took {took:.1f} s"


def test_a_statement_stuck_behind_a_lock_fails_at_the_timeout(server, target, prov):
    """Someone else's unfinished GRANT of the same membership holds the row: statement and
    lock timeouts end the wait, and the call says it timed out."""
    login = server.role("mallory", login=True)
    with psycopg.connect(server.conninfo()) as other:  # a transaction left open
        other.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(target["role"]), sql.Identifier(login))
        )
        started = time.monotonic()
        with pytest.raises(ProvisionError, match="timed out after 2s") as failed:
            prov.grant(login, {**target, "timeout": 2})
        took = time.monotonic() - started
        other.rollback()
    assert failed.value.retry is True
    assert took < 2 + 3, f"a 2 s timeout took {took:.1f} s"


def test_account_fills_in_the_login_template(prov):
    alice = Principal("alice", "alice.smith@example.com")
    assert prov.account(alice, {"role": "r"}) == "alice"
    assert prov.account(alice, {"login": "u_{email_local}"}) == "u_alice.smith"
    assert prov.account(Principal("bob"), {"login": "{email_local}"}) == ""


def test_check_names_every_problem_without_the_network(prov):
    assert prov.check({"dsn_env": "PROVISION_BILLING_DB_DSN", "role": "billing_admin"}) == []
    problems = prov.check(
        {
            "dsn_env": "postgres://admin:pw@db/billing",
            "login": "{user}",
            "terminate_sessions": "yes",
            "timeout": 0,
            "rol": "typo",
        }
    )
    assert problems == [
        "rol is not a setting of the postgres provisioner "
        "(settings: dsn_env, login, role, terminate_sessions, timeout, unmanaged_members)",
        "dsn_env must name an environment variable (A-Z, 0-9, _) holding the admin "
        "connection's DSN; secrets never go into policy files",
        "role is required: the name of a PostgreSQL role",
        "login uses {user}, which is not a placeholder (placeholders: {username}, {email_local})",
        "terminate_sessions must be true or false",
        "timeout must be a number of seconds above 0 and at most 300",
    ]
    assert prov.check({"dsn_env": "PROVISION_D", "role": "r" * 64})[0].startswith(
        "role must be at most"
    )
    assert (
        "not a valid template"
        in prov.check({"dsn_env": "PROVISION_D", "role": "r", "login": "{x"})[0]
    )
    assert (
        "names no placeholder"
        in prov.check({"dsn_env": "PROVISION_D", "role": "r", "login": "x"})[0]
    )
