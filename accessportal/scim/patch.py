"""PATCH operations (RFC 7644 section 3.5.2) as Okta and Entra ID send them, read into what
the domain services take. django-scim2's own handlers cover few of these shapes (Okta's
`members[value eq "id"]` remove is a silent no-op there, a rename is a 501), so both
resources read their operations here.

Users: `active` (Entra may send "True"/"False" strings), `userName`, `externalId`,
`name.givenName`, `name.familyName`, `name`, `emails`, `emails[type eq "work"].value`;
attributes we do not keep (title, phone numbers, the enterprise extension...) are accepted
and ignored, anything else is 400 noTarget. Groups: `displayName`, `externalId`, `members`
(add, remove, replace) and `members[value eq "id"]` (remove).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from accessportal.scim.errors import bad_request
from policies_app.services.directory import MemberOp
from requests_app.services.directory_users import DirectoryUserAttrs

OPS = {"add", "remove", "replace"}
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:user:"
IGNORED_USER_ATTRS = {
    "displayname", "nickname", "title", "usertype", "preferredlanguage", "locale",
    "timezone", "profileurl", "phonenumbers", "addresses", "ims", "photos", "x509certificates",
    "entitlements", "roles", "name.formatted", "name.middlename", "name.honorificprefix",
    "name.honorificsuffix", "password",
}  # fmt: skip
IGNORED_PREFIXES = ("urn:ietf:params:scim:schemas:extension:", "phonenumbers[", "addresses[")
MEMBER_FILTER = re.compile(r'^members\[\s*value\s+eq\s+"([^"]*)"\s*\]$', re.IGNORECASE)
EMAIL_FILTER = re.compile(r"^emails\[[^\]]*\]\.value$", re.IGNORECASE)


def truthy(value: object, what: str = "active") -> bool:
    """A SCIM boolean; Entra ID (before its 2020 fix, and still for some apps) sends the
    strings "True" and "False"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"{what} must be true or false")


def _op_name(operation: dict) -> str:
    op = operation.get("op")
    if not isinstance(op, str) or op.lower() not in OPS:
        raise bad_request(f"op must be one of add, remove, replace (got {op!r})", "invalidSyntax")
    return op.lower()


def _path(operation: dict) -> str | None:
    path = operation.get("path")
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        raise bad_request("path must be a string", "invalidPath")
    return path.strip()


def _string(value: object, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"{what} must be a string")
    return value


def primary_email(value: object) -> str:
    """The primary address of a SCIM `emails` value (else the first); OneLogin sends one
    object instead of a list."""
    if value in (None, []):
        return ""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise bad_request("emails must be a list of {value, type, primary}")
    ordered = sorted(value, key=lambda e: not e.get("primary"))
    return _string(ordered[0].get("value"), "emails.value").strip()


def _name_part(attrs: DirectoryUserAttrs, key: str, value: object) -> DirectoryUserAttrs:
    field_name = {"givenname": "first_name", "familyname": "last_name"}.get(key.lower())
    if field_name is None:
        return attrs  # formatted, middleName...: not kept
    return replace(attrs, **{field_name: _string(value, f"name.{key}")})


def _set_user_attr(attrs: DirectoryUserAttrs, path: str, value: object, op: str):
    lower = path.lower().removeprefix(USER_URN)
    if op == "remove":
        value = None
    if lower == "active":
        if op == "remove":
            raise bad_request("active cannot be removed", "mutability")
        return replace(attrs, active=truthy(value))
    if lower == "username":
        return replace(attrs, username=_string(value, "userName"))
    if lower == "externalid":
        return replace(attrs, external_id=_string(value, "externalId"))
    if lower == "name":
        if value is None:
            return replace(attrs, first_name="", last_name="")
        if not isinstance(value, dict):
            raise bad_request("name must be an object")
        for key, part in value.items():
            attrs = _name_part(attrs, key, part)
        return attrs
    if lower.startswith("name."):
        return _name_part(attrs, path.split(".", 1)[1], value)
    if lower == "emails":
        return replace(attrs, email=primary_email(value))
    if EMAIL_FILTER.match(lower):
        return replace(attrs, email=_string(value, "emails.value").strip())
    if lower in IGNORED_USER_ATTRS or lower.startswith(IGNORED_PREFIXES):
        return attrs
    raise bad_request(f"no attribute {path!r} to {op} on a User", "noTarget")


def _targets(operations: list[dict]):
    """Each operation as (op, path, value), in order; one without a path (Okta's `replace`
    with an object value) as one (op, attribute, value) per key of its value."""
    for operation in operations:
        op, path, value = _op_name(operation), _path(operation), operation.get("value")
        if path is not None:
            yield op, path, value
            continue
        if op == "remove" or not isinstance(value, dict):
            raise bad_request(f"{op} without a path needs an object value", "noTarget")
        for key, item in value.items():
            yield op, str(key), item


def user_apply_operations(attrs: DirectoryUserAttrs, operations: list[dict]):
    """`attrs` after `operations`, in order (the auth hook checked they are objects)."""
    for op, path, value in _targets(operations):
        attrs = _set_user_attr(attrs, path, value, op)
    return attrs


def member_ids(value: object) -> list[int]:
    """User ids of a SCIM `members` value: [{"value": "42"}, ...]."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(m, dict) for m in value):
        raise bad_request("members must be a list of {value}")
    return [_user_id(m.get("value")) for m in value]


def _user_id(value: object) -> int:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > 18:
        raise bad_request(f"no such user: {value!r}")
    return int(text)


@dataclass
class GroupChange:
    """What a PATCH does to a group, for `directory_group_update`."""

    display_name: str | None = None
    external_id: str | None = None
    member_ops: list[MemberOp] = field(default_factory=list)


def _group_attr(change: GroupChange, path: str, value: object, op: str) -> None:
    lower = path.lower().removeprefix("urn:ietf:params:scim:schemas:core:2.0:group:")
    if match := MEMBER_FILTER.match(path):
        if op != "remove":
            raise bad_request(f"{op} on {path!r}: only remove is supported", "noTarget")
        change.member_ops.append(MemberOp("remove", [_user_id(match.group(1))]))
    elif lower == "members":
        if op == "remove" and value is None:
            change.member_ops.append(MemberOp("replace", []))  # RFC: remove them all
        else:
            change.member_ops.append(MemberOp(op, member_ids(value)))
    elif lower == "displayname":
        if op == "remove":
            raise bad_request("displayName is required", "mutability")
        change.display_name = _string(value, "displayName")
    elif lower == "externalid":
        change.external_id = "" if op == "remove" else _string(value, "externalId")
    elif lower == "id":
        return  # Okta's rename repeats the id
    else:
        raise bad_request(f"no attribute {path!r} to {op} on a Group", "noTarget")


def group_change(operations: list[dict]) -> GroupChange:
    change = GroupChange()
    for op, path, value in _targets(operations):
        _group_attr(change, path, value, op)
    return change
