"""Request ids as people type and read them: a unique prefix is enough (as git takes a
commit's), and listings show the first 8 characters.

A request id is a UUID. A prefix is looked up with `GET requests/?id_prefix=` (one short
page, within what the caller may see): exactly one match is the id; none is "not found";
several are an error listing them, for the person to type more of the one they mean. What
may begin an id (4 or more hex digits, dashes where the id has them) is the server's rule:
its refusal of `id_prefix` is said about what the person typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from accessctl.commands.context import Context
from accessctl.errors import NetworkError, ServerError, UsageError

SHORT = 8  # what listings show: unique among the rows of one listing, longer if not
MAX_CANDIDATES = 10  # the page asked for: candidates listed; the answer's count says the rest

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class NotAnId(UsageError):
    """What was typed cannot begin a request id (the server refused it as `id_prefix`)."""


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


def _refused_prefix(exc: ServerError) -> bool:
    data = exc.data if isinstance(exc.data, dict) else {}
    errors = data.get("errors")
    return exc.status == 400 and (
        data.get("field") == "id_prefix" or (isinstance(errors, dict) and "id_prefix" in errors)
    )


def _matching(ctx: Context, text: str, typed: str) -> tuple[list[dict], int]:
    """The first MAX_CANDIDATES requests whose id begins with `typed`, and how many there are."""
    try:
        page: Any = ctx.client.get("requests/", {"id_prefix": typed, "page_size": MAX_CANDIDATES})
    except ServerError as exc:
        if _refused_prefix(exc):
            raise NotAnId(
                f"{text!r} is not a request id",
                # The server's words: "use the beginning of a request id: 4 or more ..."
                hint=exc.message.removeprefix("id_prefix: "),
            ) from None
        raise
    results = page.get("results") if isinstance(page, dict) else page
    if not isinstance(results, list):
        raise NetworkError(f"{ctx.client.url('requests/')} did not answer with a list of requests")
    # Only ids that do begin so: a server that ignored the filter must not pick a request.
    matches = [r for r in results if isinstance(r, dict) and str(r.get("id")).startswith(typed)]
    count = page.get("count") if isinstance(page, dict) and len(matches) == len(results) else None
    return matches, count if isinstance(count, int) else len(matches)


def resolve_request(ctx: Context, text: str) -> str:
    """The full id of the request `text` names: a full id, or a unique prefix of one the
    caller may see. Not the beginning of an id (NotAnId), or ambiguous: a usage error."""
    typed = text.strip().lower()
    if UUID.match(typed):
        return typed
    matches, count = _matching(ctx, text, typed)
    if not matches:
        raise ServerError(f"request {text} not found (or you may not see it)", status=404)
    if count > 1:
        listed = [_describe(req) for req in matches]
        if count > len(matches):
            listed.append(f"... and {count - len(matches)} more")
        raise UsageError(
            f"request id prefix {text!r} is ambiguous: {count} requests start with it",
            hint="give more characters of the one you mean; the candidates are:",
            details=listed,
        )
    return str(matches[0]["id"])
