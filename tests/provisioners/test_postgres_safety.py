"""What the PostgreSQL provisioner refuses to touch (review 16): the portal's own admin
login and other administrators of the role, logins that are really group roles or
superusers, roles that would hand out control of the server; and a DSN of several silent
hosts still answers within the one timeout. Against the local server, like test_postgres."""

from __future__ import annotations

import time

import pytest
from psycopg import sql

from accessportal.provisioners import ProvisionError
from tests.provisioners import test_postgres as base
from tests.provisioners.test_postgres import DSN_ENV, PASSWORD, _silent_server

pytestmark = pytest.mark.postgres(direct=True)

server, target, prov = base.server, base.target, base.prov  # the same fixtures


def _run(server, statement: str, *names: str) -> None:
    server.admin.execute(sql.SQL(statement).format(*(sql.Identifier(n) for n in names)))


@pytest.fixture
def admin_with_admin_option(server, target, monkeypatch):
    """The documented setup: the admin login holds ADMIN OPTION on the group role, which
    makes it a direct member of the role (no CREATEROLE, no superuser)."""
    admin = server.role("portal_admin", login=True)
    _run(server, "GRANT {} TO {} WITH ADMIN OPTION", target["role"], admin)
    monkeypatch.setenv(DSN_ENV, server.conninfo(user=admin))
    return admin


def test_members_leave_out_the_admin_login_and_other_administrators(
    server, target, prov, admin_with_admin_option
):
    alice = server.role("alice", login=True)
    other_admin = server.role("dba", login=True)
    _run(server, "GRANT {} TO {} WITH ADMIN OPTION", target["role"], other_admin)
    prov.grant(alice, target)
    assert admin_with_admin_option in server.members(target["role"])
    assert prov.members(target) == {alice}  # what the reconciler would revoke as unknown
    prov.revoke(alice, target)  # and the admin can still revoke afterwards
    assert prov.members(target) == set()
    assert server.members(target["role"]) == {admin_with_admin_option, other_admin}


def test_unmanaged_members_are_never_reported(server, target, prov):
    service = server.role("svc_billing", login=True)
    bob = server.role("bob", login=True)
    _run(server, "GRANT {} TO {}", target["role"], service)
    prov.grant(bob, target)
    assert prov.members(target) == {service, bob}
    assert prov.members({**target, "unmanaged_members": [service]}) == {bob}
    assert prov.check({**target, "unmanaged_members": "svc"}) == [
        "unmanaged_members must be a list of logins"
    ]


def test_a_superuser_member_is_never_reported(server, target, prov):
    root = server.role("root", login=True)
    _run(server, "ALTER ROLE {} SUPERUSER", root)
    _run(server, "GRANT {} TO {}", target["role"], root)
    assert prov.members(target) == set()


def test_a_group_role_named_like_a_user_is_not_granted(server, target, prov):
    """A user whose username is a NOLOGIN group role: granting would give the target role
    to every member of that group."""
    analysts = server.role("analysts")
    victim = server.role("victim", login=True)
    _run(server, "GRANT {} TO {}", analysts, victim)
    with pytest.raises(ProvisionError, match="cannot log in") as refused:
        prov.grant(analysts, target)
    assert refused.value.retry is False
    assert server.members(target["role"]) == set()


def test_a_superuser_login_is_not_granted(server, target, prov):
    root = server.role("root", login=True)
    _run(server, "ALTER ROLE {} SUPERUSER", root)
    with pytest.raises(ProvisionError, match="is a superuser") as refused:
        prov.grant(root, target)
    assert refused.value.retry is False


def test_check_refuses_postgresqls_own_roles(prov):
    for role in ("postgres", "pg_read_server_files", "pg_signal_backend"):
        problems = prov.check({"dsn_env": "PROVISION_BILLING_DB_DSN", "role": role})
        assert problems == [
            f"role {role} is PostgreSQL's own (postgres, pg_*); grant a group role of your "
            "own: a member of these could take over the server"
        ]


@pytest.mark.parametrize("attribute", ["SUPERUSER", "CREATEROLE", "CREATEDB", "BYPASSRLS"])
def test_a_role_with_dangerous_attributes_is_refused(server, target, prov, attribute):
    _run(server, f"ALTER ROLE {{}} {attribute}", target["role"])
    carol = server.role("carol", login=True)
    for call in (lambda: prov.grant(carol, target), lambda: prov.probe(target)):
        with pytest.raises(ProvisionError, match=f"would give its members {attribute}") as refused:
            call()
        assert refused.value.retry is False
    assert server.members(target["role"]) == set()


def test_a_role_that_leads_to_a_superuser_is_refused(server, target, prov):
    """Membership, directly or through another role, in a superuser role: a member could
    SET ROLE to it."""
    middle = server.role("middle")
    top = server.role("top")
    _run(server, "ALTER ROLE {} SUPERUSER", top)
    _run(server, "GRANT {} TO {}", top, middle)
    _run(server, "GRANT {} TO {}", middle, target["role"])
    dave = server.role("dave", login=True)
    with pytest.raises(ProvisionError, match=f"SUPERUSER through its membership in {top}"):
        prov.grant(dave, target)
    assert server.members(target["role"]) == set()


def test_a_role_holding_server_file_access_is_refused(server, target, prov):
    _run(server, "GRANT pg_read_server_files TO {}", target["role"])
    with pytest.raises(ProvisionError, match="pg_read_server_files"):
        prov.probe(target)


def _drop(server, *roles: str) -> None:
    for role in roles:
        _run(server, "DROP ROLE IF EXISTS {}", role)


def test_a_role_leading_to_postgresqls_own_roles_through_a_chain_is_refused(server, target, prov):
    """Re-review 16: a group role that is a member, through a middle role, of
    pg_write_all_data, pg_read_all_data and pg_signal_backend."""
    middle = server.role("rr16_mid")
    alice = server.role("rr16_alice", login=True)
    try:
        _run(server, "GRANT pg_write_all_data, pg_read_all_data, pg_signal_backend TO {}", middle)
        _run(server, "GRANT {} TO {}", middle, target["role"])
        assert prov.check(target) == []  # names only: the chain is seen by the calls
        for call in (lambda: prov.grant(alice, target), lambda: prov.probe(target)):
            with pytest.raises(
                ProvisionError, match="the powers of pg_\\w+, PostgreSQL's own role, by membership"
            ) as refused:
                call()
            assert refused.value.retry is False
        assert server.members(target["role"]) == set()
        held = server.admin.execute(
            "SELECT pg_has_role(%s, 'pg_write_all_data', 'USAGE')", (alice,)
        ).fetchone()
        assert held == (False,)
    finally:
        _drop(server, alice, target["role"], middle)


@pytest.mark.parametrize("depth", ["direct", "through a middle role"])
def test_a_role_whose_chain_carries_admin_option_is_refused(server, target, prov, depth):
    """A member could grant the role held WITH ADMIN OPTION to anyone."""
    other = server.role("rr16_other")
    middle = server.role("rr16_mid")
    bob = server.role("rr16_bob", login=True)
    try:
        if depth == "direct":
            _run(server, "GRANT {} TO {} WITH ADMIN OPTION", other, target["role"])
            holder = ""
        else:
            _run(server, "GRANT {} TO {} WITH ADMIN OPTION", other, middle)
            _run(server, "GRANT {} TO {}", middle, target["role"])
            holder = f" through its membership in {middle}"
        message = f"would give its members ADMIN OPTION on {other}{holder} "
        for call in (lambda: prov.grant(bob, target), lambda: prov.probe(target)):
            with pytest.raises(ProvisionError, match=message) as refused:
                call()
            assert refused.value.retry is False
        assert server.members(target["role"]) == set()
    finally:
        _drop(server, bob, target["role"], middle, other)


def test_a_harmless_chain_is_granted(server, target, prov):
    """Membership in roles of one's own, without ADMIN OPTION, is fine."""
    top = server.role("rr16_top")
    middle = server.role("rr16_mid")
    carol = server.role("rr16_carol", login=True)
    _run(server, "GRANT {} TO {}", top, middle)
    _run(server, "GRANT {} TO {}", middle, target["role"])
    prov.grant(carol, target)
    assert server.members(target["role"]) == {carol}


def test_a_dsn_of_several_silent_hosts_fails_within_the_one_timeout(target, prov, monkeypatch):
    """libpq's connect_timeout counts per host: three hosts that never answer must not
    take three timeouts."""
    with _silent_server() as port:
        hosts = ",".join(["127.0.0.1"] * 3)
        ports = ",".join([str(port)] * 3)
        dsn = f"host={hosts} port={ports} user=postgres password={PASSWORD} dbname=x"
        monkeypatch.setenv(DSN_ENV, dsn)
        started = time.monotonic()
        with pytest.raises(ProvisionError) as failed:
            prov.probe({**target, "timeout": 2})
        took = time.monotonic() - started
    assert failed.value.retry is True
    assert PASSWORD not in str(failed.value)
    assert took < 2 + 3, f"a 2 s timeout took {took:.1f} s"  # a bound, not a speed
