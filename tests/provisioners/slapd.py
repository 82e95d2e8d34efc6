"""A private OpenLDAP `slapd` on a free loopback port, and the fixtures of the LDAP
provisioner's tests (`slapd`, about 40 ms to seed and start; `ldap_target`).

Debian's `slapd` package (`apt-get install slapd ldap-utils`, as .ci/run does); its own
service need not run. The server runs as the current user (root or not) from a generated
slapd.conf in a temporary folder: mdb backend, suffix dc=example,dc=com, the core, cosine,
inetorgperson and nis schemas, seeded offline with `slapadd` (ou=people with a few
inetOrgPerson users, ou=groups with a groupOfNames and a groupOfUniqueNames). The provisioner
binds as `cn=provisioner,ou=services,...`, which may write only the member attributes of
groups (the privileges docs/provisioning.md asks for); `cn=admin` is the root DN.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import ldap3
import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.provisioners.certs import write_certificates
from tests.server_process import ServerProcess, free_port, port_answers

# sbin is often not on an unprivileged user's PATH; ACCESSPORTAL_SLAPD names another slapd
# (its slapadd beside it)
SBIN_PATH = os.pathsep.join(["/usr/sbin", "/usr/local/sbin", os.environ.get("PATH", "")])
SLAPD = (
    os.environ.get("ACCESSPORTAL_SLAPD")
    or shutil.which("slapd", path=SBIN_PATH)
    or "/usr/sbin/slapd"
)
SLAPADD = str(Path(SLAPD).with_name("slapadd"))
INSTALL_HINT = (
    "needs slapd: apt-get install slapd ldap-utils (Debian/Ubuntu), "
    "or set ACCESSPORTAL_SLAPD to its path"
)
SCHEMA_DIRS = ["/etc/ldap/schema", "/etc/openldap/schema", "/usr/local/etc/openldap/schema"]
MODULE_DIRS = ["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap", "/usr/libexec/openldap"]

SUFFIX = "dc=example,dc=com"
ROOT_DN = f"cn=admin,{SUFFIX}"
PROVISIONER_DN = f"cn=provisioner,ou=services,{SUFFIX}"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
NAMES_GROUP = f"cn=db-admins,{GROUPS}"  # groupOfNames: `member`, at least one
UNIQUE_GROUP = f"cn=auditors,{GROUPS}"  # groupOfUniqueNames: `uniqueMember`
USERS = ("alice", "bob", "carol", "dave")
PLACEHOLDER = f"cn=placeholder,{SUFFIX}"  # keeps groupOfNames valid when nobody else is in it


def slapd_installed() -> bool:
    return os.access(SLAPD, os.X_OK) and os.access(SLAPADD, os.X_OK) and _schema_dir() is not None


def _schema_dir() -> str | None:
    return next((d for d in SCHEMA_DIRS if os.path.isfile(f"{d}/inetorgperson.schema")), None)


def _module_dir() -> str | None:
    """Where back_mdb is a loadable module (Debian); None when it is built into slapd."""
    return next((d for d in MODULE_DIRS if os.path.exists(f"{d}/back_mdb.la")), None)


def user_dn(uid: str) -> str:
    return f"uid={uid},{PEOPLE}"


def _seed_ldif(provisioner_password: str) -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups",
        f"dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services",
        f"dn: {PROVISIONER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject"
        f"\ncn: provisioner\nuserPassword: {provisioner_password}",
        f"dn: {PLACEHOLDER}\nobjectClass: organizationalRole\ncn: placeholder",
    ]
    for uid in USERS:
        entries.append(
            f"dn: {user_dn(uid)}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid.title()}"
            f"\nsn: {uid.title()}\nmail: {uid}@example.com"
        )
    entries.append(
        f"dn: {NAMES_GROUP}\nobjectClass: groupOfNames\ncn: db-admins\nmember: {user_dn('dave')}"
    )
    entries.append(
        f"dn: {UNIQUE_GROUP}\nobjectClass: groupOfUniqueNames\ncn: auditors"
        f"\nuniqueMember: {user_dn('dave')}"
    )
    return "\n\n".join(entries) + "\n"


def _config(workdir: Path, root_password: str, tls: dict[str, Path] | None) -> str:
    schemas = _schema_dir()
    modules = _module_dir()
    lines = [
        f"include {schemas}/{name}.schema" for name in ("core", "cosine", "inetorgperson", "nis")
    ]
    if modules:
        lines += [f"modulepath {modules}", "moduleload back_mdb"]
    if tls:
        lines += [
            f"TLSCACertificateFile {tls['ca.pem']}",
            f"TLSCertificateFile {tls['server.pem']}",
            f"TLSCertificateKeyFile {tls['server.key']}",
        ]
    lines += [
        f"pidfile {workdir}/slapd.pid",
        f"argsfile {workdir}/slapd.args",
        "loglevel stats",
        "database mdb",
        "maxsize 67108864",
        f'suffix "{SUFFIX}"',
        f'rootdn "{ROOT_DN}"',
        f"rootpw {root_password}",
        f"directory {workdir}/data",
        "index objectClass eq",
        # the provisioner's account may change group membership and nothing else
        f'access to dn.subtree="{GROUPS}" attrs=member,uniqueMember',
        f'    by dn.exact="{PROVISIONER_DN}" write',
        "    by * read",
        "access to attrs=userPassword",
        "    by anonymous auth",
        "    by * none",
        "access to *",
        "    by * read",
    ]
    return "\n".join(lines) + "\n"


class Slapd(ServerProcess):
    """One slapd in its own session; `stop` kills it (thawed first if frozen). With `tls`,
    it also answers ldaps:// on `tls_port` and StartTLS, with a certificate for localhost
    (not 127.0.0.1) signed by the CA in `ca_file`."""

    name = "slapd"

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.root_password = "root-" + secrets.token_hex(8)
        self.provisioner_password = "prov-" + secrets.token_hex(8)
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        certificates = write_certificates(workdir) if tls else None
        self.ca_file = certificates["ca.pem"] if certificates else None
        self.conf = workdir / "slapd.conf"
        self.conf.write_text(_config(workdir, self.root_password, certificates))
        seed = workdir / "seed.ldif"
        seed.write_text(_seed_ldif(self.provisioner_password))
        subprocess.run(
            [SLAPADD, "-f", str(self.conf), "-l", str(seed), "-q"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _listen(self) -> str:
        urls = [f"{self.url}/"]
        if self.tls_port:
            urls.append(f"ldaps://127.0.0.1:{self.tls_port}/")
        return " ".join(urls)

    def start(self) -> None:
        # -d 0: stay in the foreground (no daemon to chase), log to the file
        command = [SLAPD, "-f", str(self.conf), "-h", self._listen(), "-d", "0"]
        self.launch(command, self.workdir / "slapd.log", lambda: port_answers(self.port))

    def admin(self) -> ldap3.Connection:
        """A connection bound as the root DN (for setting up and reading back)."""
        server = ldap3.Server("127.0.0.1", port=self.port, get_info=ldap3.NONE)
        return ldap3.Connection(
            server, ROOT_DN, self.root_password, auto_bind=True, receive_timeout=10
        )

    def values(self, dn: str, attribute: str) -> list[str]:
        """The attribute's values as stored, read as the root DN."""
        with self.admin() as conn:
            conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=[attribute])
            return [str(v) for v in conn.entries[0][attribute].values] if conn.entries else []

    def replace(self, dn: str, attribute: str, values: list[str]) -> None:
        with self.admin() as conn:
            assert conn.modify(dn, {attribute: [(ldap3.MODIFY_REPLACE, values)]}), conn.result


# fixtures, imported by the test modules that use them (named with `name=` so that the
# test arguments do not shadow the imports)

PASSWORD_ENV = "PROVISION_TEST_LDAP_PASSWORD"


def slapd_or_skip() -> None:
    """Without slapd the test skips; with ACCESSPORTAL_REQUIRE_SERVICES=1 (CI) it fails."""
    if not slapd_installed():
        if REQUIRE_SERVICES:
            pytest.fail(f"ACCESSPORTAL_REQUIRE_SERVICES=1: {INSTALL_HINT}")
        pytest.skip(INSTALL_HINT)


@pytest.fixture(name="slapd")
def slapd_fixture(tmp_path):
    """A seeded slapd on a free loopback port, killed (thawed first if frozen) at the end."""
    slapd_or_skip()
    server = Slapd(tmp_path / "slapd")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="ldap_target")
def ldap_target_fixture(slapd, monkeypatch):
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
