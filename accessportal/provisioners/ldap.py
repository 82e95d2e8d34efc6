"""LDAP group membership: OpenLDAP `groupOfNames` / `groupOfUniqueNames` and Active
Directory groups (docs/provisioning.md, "LDAP groups").

A target names one group and the attribute holding its members (`member`, the default and
what Active Directory uses, or `uniqueMember`); a user's account is the DN the `member_dn`
template builds. grant adds the DN to the attribute, revoke deletes it; both are
idempotent. Every account this provisioner returns or reads is a *normalized* DN (see
`dn_normalize`), so `account()` and `members()` compare as plain strings whatever case or
spacing the directory stores; the server itself matches member values case-insensitively.

Each call opens one connection (optionally StartTLS), binds as `bind_dn` with the password
from the environment variable `password_env` names, does its work and unbinds; every wait
on the network shares one deadline of the target's `timeout`. Before connecting, the url
is checked again as `check()` does (TLS unless the server is on this machine): a target
stored before that rule existed is refused, never bound in clear.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as ldap_errors

from accessportal.provisioners.base import (
    Principal,
    ProvisionError,
    Target,
    redact,
    secret_env,
    target_timeout,
)
from accessportal.provisioners.ldap_settings import (
    attribute_of,
    dn_normalize,
    identity_of,
    member_dn,
    settings_problems,
    url_problems,
)

# the object classes whose member attribute we know, for `probe`
GROUP_CLASSES = {"groupOfNames": "member", "groupOfUniqueNames": "uniqueMember", "group": "member"}
# answers meaning "already so": an add of a present value (OpenLDAP 20, Active Directory 68)
# and a delete of an absent one (16); AD refuses a delete of a non-member with 53, which
# `revoke` confirms with a compare
ALREADY_MEMBER = {"attributeOrValueExists", "entryAlreadyExists"}
NOT_MEMBER = {"noSuchAttribute"}
PERMANENT = {
    "insufficientAccessRights": "the bind DN may not change {attribute} of this group",
    "noSuchObject": "the group (or, on Active Directory, the member's entry) does not exist",
    "invalidDNSyntax": "the member DN is not a valid DN",
    "invalidAttributeSyntax": "the directory refused the member value",
    "undefinedAttributeType": "the directory does not know the attribute {attribute}",
    "constraintViolation": "the directory refused the change (constraint violation)",
}
_RANGE = re.compile(r";range=\d+-(\d+|\*)$", re.IGNORECASE)


class LdapProvisioner:
    """Adds and removes the user's DN in an LDAP group's member attribute."""

    # settings

    def check(self, target: Target) -> list[str]:
        return settings_problems(target)

    def identity(self, target: Target) -> dict:
        """url, group (normalized DN) and attribute: other settings change in place."""
        return identity_of(target)

    def describe(self, target: Target) -> str:
        host = urlsplit(str(target.get("url", ""))).hostname or "?"
        return f"LDAP group {target.get('group')} on {host}"

    def account(self, user: Principal, target: Target) -> str:
        """The user's DN from the `member_dn` template, normalized (`dn_normalize`); "" when
        a placeholder it uses has no value (no email). Values are escaped as RDN values."""
        return member_dn(str(target.get("member_dn", "")), user.username, user.email or "")

    # changes

    def grant(self, account: str, target: Target) -> None:
        attribute = attribute_of(target)
        _require(account)
        with _Session(target) as session:
            result = session.modify(target["group"], {attribute: [(ldap3.MODIFY_ADD, [account])]})
            if result["description"] in ALREADY_MEMBER or result["result"] == 0:
                return
            if result["description"] == "objectClassViolation":
                raise session.error(
                    f"the group's object classes do not allow {attribute} "
                    "(groupOfNames uses member, groupOfUniqueNames uses uniqueMember)",
                    result,
                    retry=False,
                )
            raise session.failure(f"adding {account} to the group", result)

    def revoke(self, account: str, target: Target) -> None:
        attribute = attribute_of(target)
        _require(account)
        with _Session(target) as session:
            result = session.modify(
                target["group"], {attribute: [(ldap3.MODIFY_DELETE, [account])]}
            )
            if result["result"] == 0 or result["description"] in NOT_MEMBER:
                return
            if result["description"] == "objectClassViolation":
                raise session.error(
                    f"{account} is the last {attribute} of the group, and a groupOfNames (or "
                    "groupOfUniqueNames) must keep at least one: add a placeholder member to the "
                    "group and list it in the target's unmanaged_members "
                    "(docs/provisioning.md, LDAP groups)",
                    result,
                    retry=False,
                )
            if result["description"] == "unwillingToPerform":
                # Active Directory's answer to removing a non-member; make sure that is why
                answer = session.compare(target["group"], attribute, account)
                if answer in ("compareFalse", "noSuchAttribute"):
                    return
            raise session.failure(f"removing {account} from the group", result)

    # reads

    def members(self, target: Target) -> set[str]:
        """Every value of the group's member attribute, normalized like `account`, except
        the target's `unmanaged_members` (placeholders and service entries)."""
        attribute = attribute_of(target)
        with _Session(target) as session:
            values = session.values(target["group"], attribute)
        unmanaged = {dn_normalize(dn) for dn in target.get("unmanaged_members", [])}
        return {dn_normalize(str(value)) for value in values} - unmanaged

    def probe(self, target: Target) -> None:
        """Binds and reads the group; refuses a group whose class uses the other attribute."""
        attribute = attribute_of(target)
        with _Session(target) as session:
            entry = session.read(target["group"], ["objectClass"])
        classes = {str(c).lower() for c in _values(entry, "objectClass")}
        known = {name: attr for name, attr in GROUP_CLASSES.items() if name.lower() in classes}
        if known and attribute not in known.values():
            raise ProvisionError(
                f"{target['group']} is a {' / '.join(sorted(known))}: set attribute to "
                f"{' or '.join(sorted(set(known.values())))}",
                retry=False,
            )


def _require(account: str) -> None:
    """An empty DN is a valid member value (the root DSE): never add or remove it."""
    if not account or not account.strip():
        raise ProvisionError("no account: the user has no DN in this target", retry=False)


def _name_is(name: str, attribute: str) -> bool:
    """`member;range=0-1499` is a `member`."""
    return name.split(";", 1)[0].lower() == attribute.lower()


def _values(entry: dict, attribute: str) -> list:
    for name, values in entry.items():
        if name.lower() == attribute.lower():
            return values if isinstance(values, list) else [values]
    return []


class _Session:
    """One bound connection for one call, every network wait under one deadline."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.timeout = target_timeout(target)
        self.deadline = time.monotonic() + self.timeout
        self.conn: ldap3.Connection | None = None

    def __enter__(self) -> _Session:
        try:
            self._open()
        except BaseException:
            self.__exit__()  # a refused bind still holds a socket: close it now
            raise
        return self

    def _open(self) -> None:
        target = self.target
        if problems := url_problems(target.get("url"), target.get("start_tls")):
            where = LdapProvisioner().describe(target)  # the host only: the url may be wrong
            raise ProvisionError(f"{where}: {problems[0]}", retry=False)
        parts = urlsplit(target["url"])
        # the system's CA certificates (OpenSSL's SSL_CERT_FILE overrides), host name checked
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, sni=parts.hostname)
        server = ldap3.Server(
            parts.hostname,
            port=parts.port,
            use_ssl=parts.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
        )
        password = secret_env(target, "password_env")
        self.conn = ldap3.Connection(
            server,
            user=target["bind_dn"],
            password=password,
            # ldap3 packs it into SO_RCVTIMEO as whole seconds; `_call` narrows each wait
            receive_timeout=math.ceil(self.timeout),
            raise_exceptions=False,
            auto_referrals=False,
        )
        self._call(self.conn.open, "connecting")
        if target.get("start_tls") and not self._call(self.conn.start_tls, "starting TLS"):
            raise self.failure("starting TLS", self.conn.result)
        if not self._call(self.conn.bind, "binding"):
            result = self.conn.result or {}
            if result.get("description") == "invalidCredentials":
                raise self.error(
                    f"the directory refused the bind as {target['bind_dn']} (wrong DN or password)",
                    result,
                    retry=False,
                )
            raise self.failure(f"binding as {target['bind_dn']}", result)

    def __exit__(self, *exc_info) -> None:
        if self.conn is not None:
            # closing a broken connection must not hide the error that broke it
            with contextlib.suppress(Exception):
                self.conn.unbind()

    def _call(self, operation: Callable[..., Any], doing: str, *args: Any, **kwargs: Any) -> Any:
        """Runs one LDAP operation with what is left of the deadline as its socket timeout."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise ProvisionError(
                self._redact(f"{self._where()}: timed out after {self.timeout:g} s before {doing}")
            )
        sock = getattr(self.conn, "socket", None)
        if sock is not None:
            sock.settimeout(remaining)
        try:
            return operation(*args, **kwargs)
        except ldap_errors.LDAPSocketReceiveError as error:
            raise ProvisionError(
                self._redact(
                    f"{self._where()}: no answer within {self.timeout:g} s while {doing} ({error})"
                )
            ) from None
        except ldap_errors.LDAPSocketOpenError as error:
            raise ProvisionError(
                self._redact(f"{self._where()}: cannot connect ({error})")
            ) from None
        except ldap_errors.LDAPException as error:
            raise ProvisionError(
                self._redact(f"{self._where()}: {doing} failed ({type(error).__name__}: {error})")
            ) from None

    def modify(self, dn: str, changes: dict) -> dict:
        self._call(self.conn.modify, "modifying the group", dn, changes)
        return self.conn.result

    def read(self, dn: str, attributes: list[str]) -> dict:
        found = self._call(
            self.conn.search,
            "reading the group",
            dn,
            "(objectClass=*)",
            ldap3.BASE,
            attributes=attributes,
        )
        if not found or not self.conn.response:
            if (self.conn.result or {}).get("description") == "noSuchObject":
                raise self.error(f"{dn} does not exist", self.conn.result, retry=False)
            raise self.failure(f"reading {dn}", self.conn.result)
        return self.conn.response[0].get("attributes", {})

    def values(self, dn: str, attribute: str) -> list:
        """All values of the attribute, following Active Directory's ranged retrieval (it
        answers `member;range=0-1499` for large groups, and the rest on request)."""
        entry, found = self.read(dn, [attribute]), []
        while True:
            ranged = [name for name in entry if _RANGE.search(name)]
            if not ranged or not _name_is(ranged[0], attribute):
                return found + _values(entry, attribute)
            found += _values(entry, ranged[0])
            end = _RANGE.search(ranged[0]).group(1)
            if end == "*":
                return found
            entry = self.read(dn, [f"{attribute};range={int(end) + 1}-*"])

    def compare(self, dn: str, attribute: str, value: str) -> str:
        """The directory's answer to "does `dn` hold this value" (compareTrue, ...)."""
        self._call(self.conn.compare, "comparing", dn, attribute, value)
        return (self.conn.result or {}).get("description", "")

    def failure(self, doing: str, result: dict) -> ProvisionError:
        description = (result or {}).get("description") or "no answer"
        known = PERMANENT.get(description)
        if known:
            return self.error(
                known.format(attribute=attribute_of(self.target)), result, retry=False
            )
        return self.error(f"{doing} failed", result)

    def error(self, message: str, result: dict, *, retry: bool = True) -> ProvisionError:
        result = result or {}
        detail = ": ".join(str(x) for x in (result.get("description"), result.get("message")) if x)
        text = f"{self._where()}: {message}" + (f" [{detail}]" if detail else "")
        return ProvisionError(self._redact(text), retry=retry)

    def _where(self) -> str:
        return f"LDAP {self.target.get('url')}"

    def _redact(self, text: str) -> str:
        return redact(text, self.target)
