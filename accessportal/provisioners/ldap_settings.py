"""The LDAP provisioner's target settings (checked offline) and its one spelling of a DN.

Settings (docs/provisioning.md, "LDAP groups"): url, bind_dn, password_env, group,
attribute, member_dn, unmanaged_members, start_tls, timeout.
"""

from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import urlsplit

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import escape_rdn, parse_dn

from accessportal.kernel.outbound import loopback_host
from accessportal.provisioners.base import Target
from accessportal.provisioners.common import secret_name_problem, unmanaged_problem

ATTRIBUTES = {"member": "member", "uniquemember": "uniqueMember"}
PLACEHOLDERS = ("username", "email", "email_local")
SETTINGS = (
    "url",
    "bind_dn",
    "password_env",
    "group",
    "attribute",
    "member_dn",
    "unmanaged_members",
    "start_tls",
    "timeout",
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UNIQUE_UID = re.compile(r"#'[01]*'B$")  # uniqueMember's optional "#'0101'B" suffix
_HEX_PAIR = re.compile(r"[0-9A-Fa-f]{2}")


def dn_normalize(dn: str) -> str:
    """One spelling per DN, the form `account` returns and `members` reports: attribute
    types and values lowercased, spaces around separators dropped, values unescaped and
    re-escaped one way (RFC 4514), multi-valued RDNs sorted, uniqueMember's optional
    `#'...'B` suffix dropped. A value that does not parse is returned stripped, lowercased.

    Lowercasing matches how directories compare the usual naming attributes (uid, cn, ou,
    dc are case-insensitive, and Active Directory DNs are case-insensitive throughout)."""
    dn = _UNIQUE_UID.sub("", dn.strip())
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return dn.lower()
    rdns, current = [], []
    for attribute, value, separator in parts:
        current.append(f"{attribute.lower()}={escape_rdn(_unescape(value)).lower()}")
        if separator != "+":
            rdns.append("+".join(sorted(current)))
            current = []
    return ",".join(rdns)


def _unescape(value: str) -> str:
    """An RDN value without its backslash escapes (`\\,` and `\\2C` alike)."""
    raw, i = bytearray(), 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if _HEX_PAIR.fullmatch(pair):
                raw.append(int(pair, 16))
                i += 3
            else:
                raw += value[i + 1].encode()
                i += 2
            continue
        raw += value[i].encode()
        i += 1
    return raw.decode("utf-8", errors="replace")


def template_fields(template: str) -> list[str]:
    """The placeholders of a member_dn template ("uid={username},..." -> ["username"])."""
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


def member_dn(template: str, username: str, email: str) -> str:
    """The template filled in (values escaped as RDN values), normalized; "" when a
    placeholder it uses has no value (a user without an email)."""
    values = {
        "username": username,
        "email": email,
        "email_local": email.partition("@")[0] if "@" in email else "",
    }
    fields = template_fields(template)
    if any(not values[f] for f in fields):
        return ""
    return dn_normalize(template.format(**{f: escape_rdn(values[f]) for f in fields}))


def identity_of(target: Target) -> dict:
    """The server, the group (normalized DN) and the member attribute: what the target is."""
    group = target.get("group")
    return {
        "url": target.get("url"),
        "group": dn_normalize(group) if isinstance(group, str) else group,
        "attribute": str(target.get("attribute", "member")).lower(),
    }


def attribute_of(target: Target) -> str:
    """The member attribute's canonical spelling (`member` unless the target says)."""
    return ATTRIBUTES[str(target.get("attribute", "member")).lower()]


def settings_problems(target: Target) -> list[str]:
    """Every problem with the target's settings, one sentence each, without the network."""
    problems = [
        f"unknown setting {key!r} (known: {', '.join(SETTINGS)})"
        for key in target
        if key not in SETTINGS
    ]
    problems += url_problems(target.get("url"), target.get("start_tls"))
    problems += _dn_problems(target.get("group"), "group")
    bind_dn = target.get("bind_dn")
    # Active Directory also binds as svc-portal@corp.example.com or CORP\svc-portal
    ad_name = (
        isinstance(bind_dn, str) and "=" not in bind_dn and ("@" in bind_dn or "\\" in bind_dn)
    )
    if not ad_name:
        problems += _dn_problems(bind_dn, "bind_dn")
    env = target.get("password_env")
    if not isinstance(env, str) or not _ENV_NAME.match(env):
        problems.append("password_env is required: the environment variable holding the password")
    elif problem := secret_name_problem("password_env", env):
        problems.append(problem)
    attribute = target.get("attribute", "member")
    if not isinstance(attribute, str) or attribute.lower() not in ATTRIBUTES:
        problems.append(f"attribute must be member or uniqueMember, not {attribute!r}")
    problems += _template_problems(target.get("member_dn"))
    unmanaged = target.get("unmanaged_members", [])
    if problem := unmanaged_problem(target, "DNs"):
        problems.append(problem)
    else:
        for dn in unmanaged:
            problems += _dn_problems(dn, "unmanaged_members")
    if "start_tls" in target and not isinstance(target["start_tls"], bool):
        problems.append("start_tls must be true or false")
    timeout = target.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 300
    ):
        problems.append("timeout must be a number of seconds between 0 and 300")
    return problems


def url_problems(url: Any, start_tls: Any) -> list[str]:
    """What is wrong with `url` (and `start_tls`): checked by `check()` and again before
    every connection, so a target stored before a rule was added never binds in clear."""
    if not isinstance(url, str) or not url:
        return ["url is required (ldap://host[:port] or ldaps://host[:port])"]
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        return [f"url must be ldap://host[:port] or ldaps://host[:port], not {url!r}"]
    if parts.username or parts.password:
        return ["url must not contain credentials (use bind_dn and password_env)"]
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return ["url must name only the server (no base DN or query)"]
    try:
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return [f"url has an invalid port: {url!r}"]
    if start_tls is True and parts.scheme == "ldaps":
        return ["start_tls is for ldap:// urls (ldaps:// is TLS already)"]
    if parts.scheme == "ldap" and start_tls is not True and not loopback_host(parts.hostname):
        return [
            "url must be ldaps://, or ldap:// with start_tls: true (a plain ldap:// bind sends "
            "the password in clear; plain ldap:// only to a loopback address such as 127.0.0.1)"
        ]
    return []


def _dn_problems(value: Any, name: str) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"{name} is required (a DN such as cn=db-admins,ou=groups,dc=example,dc=com)"]
    try:
        if not parse_dn(value, escape=False, strip=True):
            return [f"{name} is not a DN: {value!r}"]
    except LDAPInvalidDnError as error:
        return [f"{name} is not a valid DN: {value!r} ({error})"]
    return []


def _template_problems(template: Any) -> list[str]:
    example = "uid={username},ou=people,dc=example,dc=com"
    if not isinstance(template, str) or not template.strip():
        return [f"member_dn is required: the template of a member's DN, such as {example}"]
    try:
        fields = template_fields(template)
    except ValueError as error:
        return [f"member_dn is not a valid template ({error})"]
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
        return [f"member_dn has an unknown placeholder {{{unknown[0]}}} (known: {known})"]
    if not fields:
        return ["member_dn must contain {username}, {email} or {email_local}"]
    return _dn_problems(template.format(**{p: "x" for p in PLACEHOLDERS}), "member_dn")
