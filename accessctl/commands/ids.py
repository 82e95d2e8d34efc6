"""Request ids as people type and read them: a unique prefix is enough (as git takes a
commit's), and listings show the first 8 characters.

A request id is a UUID. The API looks requests up by their full id only, so a prefix is
matched against the requests the caller may see (`GET requests/`): exactly one match is
the id; none is "not found"; several are an error listing them, for the person to type
more of the one they mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from accessctl.commands.context import Context
from accessctl.errors import ServerError, UsageError

MIN_PREFIX = 4  # fewer characters would match too much to be worth a listing
SHORT = 8  # what listings show: unique among the rows of one listing, longer if not
MAX_CANDIDATES = 10
PAGE_SIZE = 200  # the API's largest page: fewest calls to scan what the caller sees

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PREFIX = re.compile(r"^[0-9a-f][0-9a-f-]*$")


def short_ids(ids: Iterable[object]) -> dict[str, str]:
    """Each id of a listing → its first SHORT characters, or more when two would read the
    same (then the length that tells them all apart, for every id, so the column aligns)."""
    full = [str(i) for i in ids if i]
    length = SHORT
    while len({i[:length] for i in full}) < len(set(full)) and length < 36:
        length += 1
    return {i: i[:length] for i in full}


def short_id(value: object) -> str:
    text = "" if value is None else str(value)
    return text[:SHORT] if UUID.match(text) else text


def _describe(req: dict) -> str:
    user = req.get("user")
    user = user.get("username") if isinstance(user, dict) else user
    what = ", ".join(map(str, [*(req.get("roles") or []), *(req.get("resources") or [])]))
    return f"{req.get('id')}  {user}  {what}  {req.get('state')}"


def resolve_request(ctx: Context, text: str) -> str:
    """The full id of the request `text` names: a full id, or a unique prefix of one the
    caller may see. Too short, not an id's characters, or ambiguous: a usage error."""
    typed = text.strip().lower()
    if UUID.match(typed):
        return typed
    if not _PREFIX.match(typed):
        raise UsageError(
            f"{text!r} is not a request id: give the id or its first characters "
            "(hexadecimal, as `accessctl request ls` shows them)"
        )
    if len(typed) < MIN_PREFIX:
        raise UsageError(
            f"request id prefix {text!r} is too short: give at least {MIN_PREFIX} characters"
        )
    matches = [
        req
        for req in ctx.client.get_list("requests/", {"page_size": PAGE_SIZE})
        if isinstance(req, dict) and str(req.get("id", "")).startswith(typed)
    ]
    if not matches:
        raise ServerError(f"request {text} not found (or you may not see it)", status=404)
    if len(matches) > 1:
        listed = [_describe(req) for req in matches[:MAX_CANDIDATES]]
        if len(matches) > MAX_CANDIDATES:
            listed.append(f"... and {len(matches) - MAX_CANDIDATES} more")
        raise UsageError(
            f"request id prefix {text!r} is ambiguous: {len(matches)} requests start with it",
            hint="give more characters of the one you mean; the candidates are:",
            details=listed,
        )
    return str(matches[0]["id"])
