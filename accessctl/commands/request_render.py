"""Reading the API's access-request objects and showing them to people."""

from __future__ import annotations

from accessctl import output
from accessctl.commands.context import Context, not_found_as
from accessctl.errors import NetworkError, ServerError


def username(value: object) -> str:
    """A user as the API gives it: a name, or an object with `username`."""
    if isinstance(value, dict):
        return str(value.get("username") or value.get("name") or "")
    return "" if value is None else str(value)


def items(req: dict) -> list[str]:
    return [*map(str, req.get("roles") or []), *map(str, req.get("resources") or [])]


def reviews(req: dict) -> list[dict]:
    return [r for r in req.get("reviews") or [] if isinstance(r, dict)]


def reviewer(review: dict) -> str:
    return username(review.get("reviewer", review.get("user")))


def review_key(review: dict) -> tuple:
    return (review.get("id"), reviewer(review), review.get("state"), review.get("created"))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def threshold_text(threshold: object) -> str:
    """`default: 1 of 2 approvals` (with progress when the API gives it), plus its filter."""
    if not isinstance(threshold, dict):
        return str(threshold)
    name = threshold.get("name") or "default"
    counts = []
    for need, got, word in (("approve", "approvals", "approval"), ("deny", "denials", "denial")):
        count = int(threshold.get(need) or 0)
        if not count:
            continue  # a 0 count never fires
        if isinstance(threshold.get(got), int):
            counts.append(f"{threshold[got]} of {plural(count, word)}")
        else:
            counts.append(plural(count, word))
    text = f"{name}: {', '.join(counts) or 'never fires'}"
    if threshold.get("filter"):
        text += f" (reviews where {threshold['filter']})"
    return text


def review_table(ctx: Context, req: dict, now) -> str:
    rows = [
        [
            reviewer(r),
            ctx.style.state(str(r.get("state", ""))),
            output.when(r.get("created"), now),
            output.truncate(r.get("reason") or "", 60),
        ]
        for r in reviews(req)
    ]
    return output.table(["REVIEWER", "VERDICT", "WHEN", "REASON"], rows, ctx.style)


def render_request(ctx: Context, req: dict) -> str:
    """The request as a block a reviewer can paste into a ticket."""
    now = output.now_utc()
    state = str(req.get("state", ""))
    style = ctx.style
    access = []
    max_duration = req.get("max_duration")
    if max_duration:
        access.append(f"{output.duration(max_duration, parts=4)}")
    if state == "PENDING":
        start = req.get("assume_start_time")
        if req.get("extends"):
            access.append("from the end of the access it extends (or approval, if later)")
        elif start:
            access.append(f"from {output.when(start, now, style=style)} if approved by then")
        else:
            access.append("from approval")
    lines = output.fields(
        [
            ("Request", str(req.get("id", ""))),
            ("User", username(req.get("user"))),
            ("Roles", ", ".join(map(str, req.get("roles") or []))),
            ("Resources", ", ".join(map(str, req.get("resources") or []))),
            ("State", style.state(state)),
            ("Extends", str(req.get("extends") or "")),
            ("Reason", str(req.get("reason") or "")),
            ("Created", output.when(req.get("created"), now, style=style)),
            (
                "Pending until",
                output.when(req.get("expires"), now, style=style) if state == "PENDING" else "",
            ),
            ("Access", ", ".join(access)),
            ("Access starts", output.when(req.get("access_starts"), now, style=style)),
            # Revoked access ended when it was revoked: no "in 3h" it will not reach.
            (
                "Access expires",
                output.when(req.get("access_expires"), now, style=style)
                if state != "REVOKED"
                else "",
            ),
            (
                "Access ended",
                output.when(req.get("revoked_at"), now, style=style) if state == "REVOKED" else "",
            ),
            ("Reviewers", ", ".join(map(username, req.get("suggested_reviewers") or []))),
            ("Thresholds", "; ".join(threshold_text(t) for t in req.get("thresholds") or [])),
            ("Decision", str(req.get("resolve_reason") or "")),
            ("Revoked", str(req.get("revoke_reason") or "")),
            ("Break glass", break_glass_text(req, now, style)),
        ]
    )
    if reviews(req):
        lines += "\n\nReviews:\n" + _indent(review_table(ctx, req, now))
    elif state == "PENDING":
        lines += "\n\n" + style.dim("No reviews yet.")
    return lines


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())


def fetch(ctx: Context, request_id: str) -> dict:
    try:
        req = ctx.client.get(f"requests/{request_id}/")
    except ServerError as exc:
        raise not_found_as(exc, f"request {request_id}") from None
    if not isinstance(req, dict):
        raise NetworkError("the server's answer was not a request object")
    return req


def break_glass_text(req: dict, now, style) -> str:
    """A break-glass use's ratification: its status, and its deadline or who decided."""
    glass = req.get("break_glass")
    if not isinstance(glass, dict):
        return ""
    status = str(glass.get("status") or "")
    if glass.get("state") == "AWAITING" and "timed out" not in status:
        return f"{status}, by {output.when(glass.get('deadline'), now, style=style)}"
    if glass.get("decided_by"):
        return f"{status} by {username(glass.get('decided_by'))}: {glass.get('decision_reason')}"
    return status
