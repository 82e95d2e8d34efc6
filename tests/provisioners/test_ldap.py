"""The LDAP group provisioner against a real slapd (tests/provisioners/slapd.py): members
added and removed idempotently in groupOfNames (`member`) and groupOfUniqueNames
(`uniqueMember`) groups, DNs compared whatever their case, and failures that say what is
wrong without ever showing the bind password."""

from __future__ import annotations

import socket
import threading

import pytest

from accessportal.provisioners.base import Principal, ProvisionError, provisioner_get
from accessportal.provisioners.ldap import LdapProvisioner
from tests.provisioners.slapd import (  # noqa: F401 (fixtures)
    GROUPS,
    NAMES_GROUP,
    PASSWORD_ENV,
    PLACEHOLDER,
    PROVISIONER_DN,
    ROOT_DN,
    SUFFIX,
    UNIQUE_GROUP,
    Slapd,
    free_port,
    ldap_target_fixture,
    slapd_fixture,
    slapd_or_skip,
    user_dn,
)

ldap = LdapProvisioner()
alice = Principal("alice", "alice@example.com")
bob = Principal("bob", "bob@example.com")
DAVE = user_dn("dave")  # seeded into both groups

GROUP_KINDS = [
    pytest.param(NAMES_GROUP, "member", id="groupOfNames-member"),
    pytest.param(UNIQUE_GROUP, "uniqueMember", id="groupOfUniqueNames-uniqueMember"),
]


def outcome(call, *args):
    """The ProvisionError a call raises, run in a thread so that a call that never returns
    fails the test (after a generous 30 s) instead of hanging the suite."""
    box: dict = {}

    def run():
        try:
            call(*args)
        except ProvisionError as error:
            box["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the provisioner call did not return"
    assert "error" in box, "the call succeeded"
    return box["error"]


@pytest.mark.parametrize(("group", "attribute"), GROUP_KINDS)
def test_grant_and_revoke_are_idempotent(slapd, ldap_target, group, attribute):
    target = ldap_target(group=group, attribute=attribute)
    account = ldap.account(alice, target)
    assert account == "uid=alice,ou=people,dc=example,dc=com"

    ldap.grant(account, target)
    ldap.grant(account, target)  # already a member: success, nothing changes
    assert slapd.values(group, attribute) == [DAVE, account]
    assert ldap.members(target) == {DAVE, account}

    ldap.revoke(account, target)
    ldap.revoke(account, target)  # not a member any more: success
    assert slapd.values(group, attribute) == [DAVE]
    assert ldap.members(target) == {DAVE}


def test_dns_compare_whatever_their_case_and_spacing(slapd, ldap_target):
    """A member stored by hand as `UID=Alice, OU=People,...` is the account `account()`
    builds; granting the other spelling adds no second value, revoking it removes the one."""
    target = ldap_target(member_dn="UID={username}, OU=People, DC=Example, DC=com")
    slapd.replace(NAMES_GROUP, "member", [DAVE, "UID=Alice, OU=People,DC=Example,DC=COM"])
    account = ldap.account(alice, target)

    assert account == "uid=alice,ou=people,dc=example,dc=com"
    assert account in ldap.members(target)
    ldap.grant(account, target)
    assert len(slapd.values(NAMES_GROUP, "member")) == 2
    ldap.revoke(account.upper(), target)
    assert ldap.members(target) == {DAVE}


def test_account_escapes_values_and_needs_the_placeholders_it_uses(ldap_target):
    target = ldap_target(member_dn="cn={email_local},ou=people,dc=example,dc=com")
    assert ldap.account(Principal("x", "Smith, J@example.com"), target) == (
        "cn=smith\\, j,ou=people,dc=example,dc=com"
    )
    assert ldap.account(Principal("x", ""), target) == ""  # no email, no account
    by_mail = ldap_target(member_dn="mail={email},ou=people,dc=example,dc=com")
    assert ldap.account(bob, by_mail) == "mail=bob@example.com,ou=people,dc=example,dc=com"


def test_a_user_with_an_escaped_dn_is_granted_and_found(slapd, ldap_target):
    target = ldap_target()
    account = ldap.account(Principal("o'neil, pat+x"), target)
    ldap.grant(account, target)
    assert account in ldap.members(target)
    ldap.revoke(account, target)
    assert ldap.members(target) == {DAVE}


@pytest.mark.parametrize(("group", "attribute"), GROUP_KINDS)
def test_removing_the_last_member_says_to_add_a_placeholder(slapd, ldap_target, group, attribute):
    target = ldap_target(group=group, attribute=attribute)
    error = outcome(ldap.revoke, DAVE, target)
    assert f"last {attribute}" in str(error) and "placeholder" in str(error)
    assert "unmanaged_members" in str(error) and error.retry is False
    assert slapd.values(group, attribute) == [DAVE]

    # the documented way out: a placeholder the portal neither reports nor removes
    slapd.replace(group, attribute, [PLACEHOLDER, DAVE])
    placeholder = ldap_target(
        group=group, attribute=attribute, unmanaged_members=[PLACEHOLDER.upper()]
    )
    assert ldap.members(placeholder) == {DAVE}
    ldap.revoke(DAVE, placeholder)
    assert ldap.members(placeholder) == set()
    assert slapd.values(group, attribute) == [PLACEHOLDER]


def test_a_wrong_bind_password_is_refused_without_showing_it(slapd, ldap_target, monkeypatch):
    target = ldap_target()
    wrong = "Wrong-Secret-4417"
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    for call, args in [(ldap.grant, (DAVE, target)), (ldap.members, (target,))]:
        error = outcome(call, *args)
        assert "refused the bind" in str(error) and "invalidCredentials" in str(error)
        assert error.retry is False
        assert wrong not in str(error) and wrong not in repr(error.args)
        assert slapd.provisioner_password not in str(error)


def test_a_secret_that_appears_in_an_answer_is_redacted(slapd, ldap_target, monkeypatch):
    """Whatever an error would quote (here a group DN that happens to contain the bind
    password), the password itself never appears."""
    monkeypatch.setenv(PASSWORD_ENV, slapd.root_password)
    target = ldap_target(bind_dn=ROOT_DN, group=f"cn={slapd.root_password},{GROUPS}")
    error = outcome(ldap.members, target)
    assert "does not exist" in str(error)
    assert slapd.root_password not in str(error) and "***" in str(error)


def test_a_missing_password_variable_is_named(ldap_target, monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV)
    error = outcome(ldap.grant, DAVE, ldap_target())
    assert PASSWORD_ENV in str(error) and error.retry is False


def test_a_refused_connection_fails_at_once(ldap_target):
    target = ldap_target(url=f"ldap://127.0.0.1:{free_port()}")
    error = outcome(ldap.grant, DAVE, target)
    assert "cannot connect" in str(error) and error.retry is True


def test_a_server_that_never_answers_fails_within_the_timeout(slapd, ldap_target):
    """slapd frozen with SIGSTOP: the kernel accepts the connection, nothing answers."""
    target = ldap_target(timeout=1)
    slapd.freeze()
    try:
        error = outcome(ldap.grant, ldap.account(alice, target), target)
    finally:
        slapd.thaw()
    assert "no answer within 1 s" in str(error) and error.retry is True
    assert ldap.members(target) == {DAVE}  # back, and nothing half-done


def test_a_server_that_accepts_but_never_speaks_fails_within_the_timeout(ldap_target):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = ldap_target(url=f"ldap://127.0.0.1:{silent.getsockname()[1]}", timeout=1)
        error = outcome(ldap.members, target)
    assert "no answer within 1 s" in str(error)


def test_a_bind_dn_without_write_access_is_a_permanent_failure(slapd, ldap_target):
    """The provisioner's account may write members under ou=groups only (slapd.py's ACL)."""
    with slapd.admin() as conn:
        other = f"cn=elsewhere,{SUFFIX}"
        assert conn.add(other, ["groupOfNames"], {"cn": "elsewhere", "member": [DAVE]})
    error = outcome(ldap.grant, DAVE, ldap_target(group=other))
    assert "may not change member" in str(error) and error.retry is False


def test_a_missing_group_is_named(slapd, ldap_target):
    missing = f"cn=nope,{GROUPS}"
    assert missing in str(outcome(ldap.members, ldap_target(group=missing)))
    assert "does not exist" in str(outcome(ldap.grant, DAVE, ldap_target(group=missing)))


def test_probe_binds_reads_the_group_and_checks_its_attribute(slapd, ldap_target):
    ldap.probe(ldap_target())
    ldap.probe(ldap_target(group=UNIQUE_GROUP, attribute="uniqueMember"))
    error = outcome(ldap.probe, ldap_target(attribute="uniqueMember"))
    assert "groupOfNames" in str(error) and "set attribute to member" in str(error)
    error = outcome(ldap.grant, DAVE, ldap_target(attribute="uniqueMember"))
    assert "do not allow uniqueMember" in str(error)


def test_check_accepts_a_complete_target(ldap_target):
    assert ldap.check(ldap_target()) == []
    assert (
        ldap.check(ldap_target(url="ldaps://ldap.example.com:636", attribute="UNIQUEMEMBER")) == []
    )
    assert ldap.check(ldap_target(url="ldap://dc1.corp", start_tls=True, bind_dn="svc@corp")) == []
    assert ldap.check(ldap_target(bind_dn="CORP\\svc-portal")) == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"url": "http://ldap.example.com"}, "url must be ldap://host[:port]"),
        ({"url": "ldap://admin:pw@ldap.example.com"}, "url must not contain credentials"),
        ({"url": "ldap://ldap.example.com/dc=example"}, "url must name only the server"),
        ({"url": "ldaps://ldap.example.com", "start_tls": True}, "start_tls is for ldap://"),
        ({"url": "ldap://ldap.example.com"}, "url must be ldaps://, or ldap:// with start_tls"),
        ({"password_env": "SECRET_KEY"}, "SECRET_KEY is not a provisioning secret"),
        ({"password_env": "OKTA_CLIENT_SECRET"}, "OKTA_CLIENT_SECRET is not a provisioning"),
        ({"password_env": "PROVISION_RETRY_BACKOFF"}, "own setting PROVISION_RETRY_BACKOFF"),
        ({"group": "not a dn"}, "group is not a valid DN"),
        ({"group": None}, "group is required"),
        ({"bind_dn": ""}, "bind_dn is required"),
        ({"password_env": None}, "password_env is required"),
        ({"attribute": "memberUid"}, "attribute must be member or uniqueMember"),
        ({"member_dn": None}, "member_dn is required"),
        ({"member_dn": "uid={user},ou=people,dc=x"}, "unknown placeholder {user}"),
        ({"member_dn": "uid=alice,ou=people,dc=x"}, "must contain {username}"),
        ({"member_dn": "{username}"}, "member_dn is not a valid DN"),
        ({"unmanaged_members": "cn=x"}, "unmanaged_members must be a list"),
        ({"start_tls": "yes"}, "start_tls must be true or false"),
        ({"timeout": 0}, "timeout must be a number"),
        ({"password": "inline"}, "unknown setting 'password'"),
    ],
)
def test_check_names_each_bad_setting_offline(ldap_target, overrides, problem):
    target = {k: v for k, v in ldap_target(**overrides).items() if v is not None}
    problems = ldap.check(target)
    assert any(problem in p for p in problems), problems


def test_describe_names_the_group_and_server_without_secrets(ldap_target, slapd):
    assert ldap.describe(ldap_target()) == f"LDAP group {NAMES_GROUP} on 127.0.0.1"
    assert slapd.provisioner_password not in ldap.describe(ldap_target())


def test_the_installed_entry_point_is_this_provisioner(slapd, ldap_target):
    """Through the registry, as the engine finds it (pyproject's entry point, installed -e)."""
    provisioner = provisioner_get("ldap")
    assert isinstance(provisioner, LdapProvisioner)
    target = ldap_target(group=UNIQUE_GROUP, attribute="uniqueMember")
    provisioner.grant(provisioner.account(bob, target), target)
    assert slapd.values(UNIQUE_GROUP, "uniqueMember") == [DAVE, user_dn("bob")]


@pytest.fixture
def tls_target(tmp_path, monkeypatch):
    """A slapd with a certificate from a private CA, trusted through SSL_CERT_FILE (the
    documented way); `tls_target(**overrides)` binds as the provisioner."""
    slapd_or_skip()
    server = Slapd(tmp_path / "slapd-tls", tls=True)
    monkeypatch.setenv(PASSWORD_ENV, server.provisioner_password)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))

    def target(**overrides):
        settings = {
            "bind_dn": PROVISIONER_DN,
            "password_env": PASSWORD_ENV,
            "group": NAMES_GROUP,
            "member_dn": "uid={username},ou=people,dc=example,dc=com",
        }
        return settings | overrides

    target.server = server
    try:
        yield target
    finally:
        server.stop()


def test_start_tls_and_ldaps_check_the_certificate_and_work(tls_target):
    server = tls_target.server
    start_tls = tls_target(url=f"ldap://localhost:{server.port}", start_tls=True)
    ldaps = tls_target(url=f"ldaps://localhost:{server.tls_port}")
    ldap.grant(ldap.account(alice, start_tls), start_tls)
    assert ldap.members(ldaps) == {DAVE, user_dn("alice")}
    ldap.probe(ldaps)


def test_a_certificate_from_an_unknown_authority_is_refused(tls_target, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    server = tls_target.server
    for url, extra in [
        (f"ldaps://localhost:{server.tls_port}", {}),
        (f"ldap://localhost:{server.port}", {"start_tls": True}),
    ]:
        error = outcome(ldap.members, tls_target(url=url, **extra))
        assert "certificate verify failed" in str(error), str(error)
        assert server.provisioner_password not in str(error)
    assert server.values(NAMES_GROUP, "member") == [DAVE]


def test_a_certificate_for_another_host_name_is_refused(tls_target):
    """The certificate names localhost; the same server reached as 127.0.0.1 is refused."""
    server = tls_target.server
    error = outcome(ldap.members, tls_target(url=f"ldaps://127.0.0.1:{server.tls_port}"))
    assert "127.0.0.1" in str(error) and "certificate" in str(error).lower(), str(error)


def test_an_empty_account_is_never_written(slapd, ldap_target):
    """The empty DN is valid (the root DSE): a user without an account is refused, not added."""
    target = ldap_target()
    for call in (ldap.grant, ldap.revoke):
        assert "no account" in str(outcome(call, "", target))
    assert slapd.values(NAMES_GROUP, "member") == [DAVE]
