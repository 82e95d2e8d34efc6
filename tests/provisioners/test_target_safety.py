"""Offline checks of every built-in provisioner (review 16): which settings name the real
thing (identity), which environment variables a policy file may not point a secret at, and
which addresses a target may not name."""

from __future__ import annotations

import socket

import pytest

from accessportal.provisioners.base import target_identity
from accessportal.provisioners.ldap import LdapProvisioner
from accessportal.provisioners.postgres import PostgresProvisioner
from accessportal.provisioners.webhook import WebhookProvisioner

POSTGRES = {"dsn_env": "PROVISION_BILLING_DB_DSN", "role": "billing_admin"}
LDAP = {
    "url": "ldaps://ldap.example.com",
    "bind_dn": "cn=portal,dc=example,dc=com",
    "password_env": "PROVISION_LDAP_PASSWORD",
    "group": "cn=DB-Admins, ou=groups, dc=example, dc=com",
    "member_dn": "uid={username},ou=people,dc=example,dc=com",
}
WEBHOOK = {
    "url": "https://idm.example.com/hook",
    "secret_env": "PROVISION_IDM_SECRET",
    "group": "admins",
}

# (provisioner, target, settings that only say how to call, settings that name the thing)
CASES = [
    (
        PostgresProvisioner(),
        POSTGRES,
        {"timeout": 30, "terminate_sessions": True, "login": "u_{username}"},
        {"role": "other_role", "dsn_env": "PROVISION_OTHER_DB_DSN"},
    ),
    (
        LdapProvisioner(),
        LDAP,
        {"timeout": 30, "member_dn": "cn={username},dc=example,dc=com", "start_tls": False},
        {"group": "cn=other,ou=groups,dc=example,dc=com", "attribute": "uniqueMember"},
    ),
    (
        WebhookProvisioner(),
        WEBHOOK,
        {"timeout": 30, "account": "{email_local}", "unmanaged_members": ["svc"]},
        {"group": "auditors", "url": "https://idm2.example.com/hook"},
    ),
]


@pytest.mark.parametrize(("prov", "target", "tweaks", "moves"), CASES)
def test_identity_changes_with_what_the_target_is_not_how_it_is_called(prov, target, tweaks, moves):
    assert prov.check(target) == []
    identity = target_identity(prov, target)
    for key, value in tweaks.items():
        assert target_identity(prov, {**target, key: value}) == identity, key
    for key, value in moves.items():
        assert target_identity(prov, {**target, key: value}) != identity, key


def test_ldap_identity_compares_the_group_as_a_dn():
    ldap = LdapProvisioner()
    respelled = {**LDAP, "group": "CN=db-admins,OU=groups,DC=example,DC=com"}
    assert target_identity(ldap, respelled) == target_identity(ldap, LDAP)


SECRET_SETTINGS = [
    (PostgresProvisioner(), POSTGRES, "dsn_env"),
    (LdapProvisioner(), LDAP, "password_env"),
    (WebhookProvisioner(), WEBHOOK, "secret_env"),
]


@pytest.mark.parametrize(
    "name",
    [
        "OKTA_CLIENT_SECRET",  # an SSO provider's secret_env (read outside envconfig)
        "PGPASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "SIEM_WEBHOOK_SECRET",  # a notification rule's secret_env
        "SECRET_KEY",
        "DATABASE_URL",
        "ACCESSPORTAL_PROVISION_DB",
    ],
)
def test_a_secret_must_be_a_provisioning_secret(name):
    """Re-review 16: an allow-list, so that a policy file cannot point a target at any
    secret of the machine (an LDAP bind to a server of its choosing would send it)."""
    problem = (
        f"{name} is not a provisioning secret: name it PROVISION_... or list it in "
        "ACCESSPORTAL_PROVISION_SECRET_NAMES"
    )
    for prov, target, key in SECRET_SETTINGS:
        assert prov.check({**target, key: name}) == [f"{key}: {problem}"]


def test_the_operator_may_list_other_names(settings):
    settings.ACCESSPORTAL_PROVISION_SECRET_NAMES = ["LDAP_PORTAL_PASSWORD", "SECRET_KEY"]
    ldap = LdapProvisioner()
    assert ldap.check({**LDAP, "password_env": "LDAP_PORTAL_PASSWORD"}) == []
    # listing one of the portal's own settings does not make it a provisioning secret
    assert ldap.check({**LDAP, "password_env": "SECRET_KEY"}) == [
        "password_env names the portal's own setting SECRET_KEY; use a variable of its own "
        "(such as PROVISION_...)"
    ]


def test_the_list_is_read_from_the_environment():
    from accessportal import settings as portal_settings
    from accessportal.envconfig import names_read

    assert isinstance(portal_settings.ACCESSPORTAL_PROVISION_SECRET_NAMES, list)
    assert "ACCESSPORTAL_PROVISION_SECRET_NAMES" in names_read()


@pytest.mark.parametrize(
    "name",
    [
        "PROVISION_RETRY_BACKOFF",  # settings the portal reads keep being refused
        "PROVISION_CLAIM_LEASE",
        "PROVISION_RECONCILE_INTERVAL",
    ],
)
def test_a_secret_may_not_be_one_of_the_portals_own_settings(name):
    problem = f"names the portal's own setting {name}; use a variable of its own"
    for prov, target, key in SECRET_SETTINGS:
        problems = prov.check({**target, key: name})
        assert any(p.startswith(f"{key} {problem}") for p in problems), problems


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("SECRET_KEY", "SECRET_KEY is not a provisioning secret"),
        ("OKTA_CLIENT_SECRET", "OKTA_CLIENT_SECRET is not a provisioning secret"),
        ("PROVISION_RETRY_BACKOFF", "names the portal's own setting PROVISION_RETRY_BACKOFF"),
    ],
)
def test_a_call_refuses_to_read_another_secret(monkeypatch, name, problem):
    """Even a target that never went through check (a stale one) does not send it."""
    from accessportal.provisioners import ProvisionError

    monkeypatch.setenv(name, "a-secret-of-the-portal")
    stale = {**WEBHOOK, "url": "http://127.0.0.1:9/", "secret_env": name}
    with pytest.raises(ProvisionError, match=problem) as refused:
        WebhookProvisioner().grant("alice", stale)
    assert refused.value.retry is False
    assert "a-secret-of-the-portal" not in str(refused.value)


def test_the_provisioning_prefix_is_free():
    assert PostgresProvisioner().check({**POSTGRES, "dsn_env": "PROVISION_BILLING_DSN"}) == []


def test_ldap_requires_tls_unless_the_server_is_on_this_machine():
    ldap = LdapProvisioner()
    plain = {**LDAP, "url": "ldap://ldap.example.com"}
    assert ldap.check(plain) == [
        "url must be ldaps://, or ldap:// with start_tls: true (a plain ldap:// bind sends "
        "the password in clear; plain ldap:// only to a loopback address such as 127.0.0.1)"
    ]
    assert ldap.check({**plain, "start_tls": True}) == []
    for loopback in ("ldap://127.0.0.1:3389", "ldap://localhost", "ldap://[::1]:389"):
        assert ldap.check({**LDAP, "url": loopback}) == []


def _address_of_this_machine() -> str | None:
    """An address of this machine that is not loopback (None when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@pytest.mark.parametrize("how", ["grant", "revoke", "members", "probe"])
def test_a_stored_plain_ldap_target_never_binds_in_clear(monkeypatch, how):
    """A target stored before plain ldap:// was refused (it never goes through check
    again) is refused at call time, before any connection: the password never leaves."""
    from accessportal.provisioners import ProvisionError

    monkeypatch.setenv("PROVISION_TEST_LDAP_PASSWORD", "the-bind-password")
    address = _address_of_this_machine()
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen(1)
    listener.setblocking(False)
    host = address or "ldap.example.com"
    stale = {
        **LDAP,
        "url": f"ldap://{host}:{listener.getsockname()[1]}",
        "password_env": "PROVISION_TEST_LDAP_PASSWORD",
    }
    ldap = LdapProvisioner()
    call = {
        "grant": lambda: ldap.grant("uid=alice,dc=example,dc=com", stale),
        "revoke": lambda: ldap.revoke("uid=alice,dc=example,dc=com", stale),
        "members": lambda: ldap.members(stale),
        "probe": lambda: ldap.probe(stale),
    }[how]
    try:
        with pytest.raises(ProvisionError, match="plain ldap:// bind sends the password") as err:
            call()
        assert err.value.retry is False
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    # with start_tls (or to a loopback address) the same target is called as before
    assert ldap.check({**stale, "start_tls": True}) == []


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://0.0.0.0/hook",
        "https://[::]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://[fd00:ec2::254]/latest/meta-data",
        "https://100.100.100.200/latest/meta-data",
    ],
)
def test_a_webhook_may_not_name_a_link_local_or_unspecified_address(url):
    assert WebhookProvisioner().check({**WEBHOOK, "url": url}) == [
        "url must not name a link-local, unspecified or metadata address (169.254.x.x, "
        "fe80::, 0.0.0.0, fd00:ec2::254, 100.100.100.200)"
    ]


def test_webhook_unmanaged_members_must_be_a_list():
    assert WebhookProvisioner().check({**WEBHOOK, "unmanaged_members": "svc"}) == [
        "unmanaged_members must be a list of account names"
    ]
