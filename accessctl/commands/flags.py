"""A refusal of bad input names the flag the person typed (`--start`), not the API field it
became (`assume_start_time`).

The API's error body is `{detail, code, field?, errors?}` (README "Errors"): `errors` maps
every bad field to its messages (per item for lists). Each command that sends a body says
which of its flags (or arguments) fills which field; `named_flags` rewrites the message of a
refusal with them. A field name written in a message (`max_duration may be at most 14d`) is
replaced too when it is an identifier (has an underscore): plain words such as "reason" are
left alone, as they read as English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from accessctl.client import error_message
from accessctl.errors import ServerError

# `request create` and `request extend`: the options of a new request.
REQUEST = {
    "roles": "--roles",
    "resources": "--resource",
    "reason": "--reason",
    "max_duration": "--max-duration",
    "request_ttl": "--request-ttl",
    "assume_start_time": "--start",
    "suggested_reviewers": "--reviewers",
    "dry_run": "--dry-run",
    "break_glass": "--break-glass",
}
REVIEW = {"state": "--approve/--deny", "reason": "--reason", "assume_start_time": "--start"}
REASON = {"reason": "--reason"}
RATIFY = {"verdict": "--reject", "reason": "--reason"}
CREDENTIALS = {"audience": "--audience"}
ACCESS_CHECK = {"user": "USER", "role": "--role", "resource": "--resource"}
LOGIN = {"username": "--user"}
RESOURCES = {"kind": "--kind", "label": "--label", "search": "QUERY"}
REQUEST_LS = {
    "state": "--state",
    "user": "--user",
    "scope": "--mine/--reviewable/--reviewed/--awaiting-ratification",
}
GRANTS_LS = {"user": "--user", "active": "--active"}

_WHOLE_FORM = ("non_field_errors", "__all__")


def _rename(text: str, flags: Mapping[str, str]) -> str:
    for field, flag in flags.items():
        if "_" in field:
            text = re.sub(rf"(?<![\w-]){re.escape(field)}(?!\w)", flag, text)
    return text


def _messages(value: object) -> list[str]:
    """The messages of one field: a list of strings, or a list's items by index."""
    if isinstance(value, dict):
        return [m for item in value.values() for m in _messages(item)]
    if isinstance(value, list):
        return [m for item in value for m in _messages(item)]
    return [error_message(value)]


def flag_message(data: object, flags: Mapping[str, str]) -> str | None:
    """The refusal in `data` (the API's error body) said with `flags`, or None when it
    names no field."""
    if not isinstance(data, dict):
        return None
    errors = data.get("errors")
    if not isinstance(errors, dict) or not errors:
        field = data.get("field")
        if not field or not isinstance(data.get("detail"), str):
            return None
        errors = {field: [data["detail"]]}
    parts = []
    for field, value in errors.items():
        for text in _messages(value):
            text = _rename(text.rstrip("."), flags)
            flag = flags.get(str(field), str(field))
            if field in _WHOLE_FORM or text.startswith(flag):
                parts.append(text)
            elif text.startswith(f"{field} "):  # "audience 'x' is not allowed"
                parts.append(flag + text[len(str(field)) :])
            else:
                # "max_duration: ..." from the serializer says the field once already.
                text = text.removeprefix(f"{field}: ")
                parts.append(f"{flag}: {text}")
    return "; ".join(dict.fromkeys(parts))


@contextmanager
def named_flags(flags: Mapping[str, str]) -> Iterator[None]:
    """Around a call whose body or query the command built from its flags: a refusal of a
    field is re-said with the flag (same exception, same exit status)."""
    try:
        yield
    except ServerError as exc:
        message = flag_message(exc.data, flags)
        if message:
            exc.message = message
        raise
