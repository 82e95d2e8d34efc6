"""The LDAP provisioner's fixtures: a private slapd per test (about 40 ms to seed and
start) and targets pointing at it, the bind password in an environment variable."""

from __future__ import annotations

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.provisioners.slapd import (
    INSTALL_HINT,
    NAMES_GROUP,
    PROVISIONER_DN,
    Slapd,
    slapd_installed,
)

PASSWORD_ENV = "AP_TEST_LDAP_PASSWORD"


@pytest.fixture
def slapd(tmp_path):
    """A seeded slapd on a free loopback port, killed (thawed first if frozen) at the end.
    Without slapd the test skips; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) it fails."""
    if not slapd_installed():
        if REQUIRE_SERVICES:
            pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)
    server = Slapd(tmp_path / "slapd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ldap_target(slapd, monkeypatch):
    """`ldap_target(**overrides)`: a target for the seeded groupOfNames, binding as the
    provisioner's own account (it may change group members, nothing else)."""
    monkeypatch.setenv(PASSWORD_ENV, slapd.provisioner_password)

    def target(**overrides):
        settings = {
            "url": slapd.url,
            "bind_dn": PROVISIONER_DN,
            "password_env": PASSWORD_ENV,
            "group": NAMES_GROUP,
            "member_dn": "uid={username},ou=people,dc=example,dc=com",
            "timeout": 5,
        }
        settings.update(overrides)
        return settings

    return target
