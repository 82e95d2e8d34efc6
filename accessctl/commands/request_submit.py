"""What `request create` and `request extend` share: the options of a new request, its
body, and what is shown once the server has answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accessctl.commands import args as types
from accessctl.commands.context import Context
from accessctl.commands.request_render import render_request
from accessctl.commands.request_wait import wait
from accessctl.errors import EXIT_OK, NetworkError


def add_timing_options(p, *, reason_help: str, duration_help: str, ttl_help: str) -> None:
    """--reason, --max-duration, --request-ttl (help texts say what is being asked for)."""
    p.add_argument("--reason", default="", help=reason_help)
    p.add_argument("--max-duration", type=types.duration, metavar="DURATION", help=duration_help)
    p.add_argument("--request-ttl", type=types.duration, metavar="DURATION", help=ttl_help)


def add_outcome_options(p, *, noun: str) -> None:
    """--reviewers, --dry-run, --wait, for a `noun` ("request", "extension")."""
    p.add_argument(
        "--reviewers",
        type=types.name_list,
        action="extend",
        default=[],
        metavar="USER[,USER...]",
        help="suggested reviewers, comma-separated",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help=f"check the {noun} and show what it would be, without storing it",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait for the decision (exit 0 approved, 3 not)"
    )


def submit_body(args, **fields: Any) -> dict[str, Any]:
    """The JSON body: `fields` and the shared options that were given."""
    if args.dry_run and args.wait:
        args.parser.error("--dry-run stores nothing, so there is nothing to --wait for")
    body: dict[str, Any] = {**fields, "reason": args.reason}
    if args.max_duration:
        body["max_duration"] = args.max_duration
    if args.request_ttl:
        body["request_ttl"] = args.request_ttl
    if args.reviewers:
        body["suggested_reviewers"] = args.reviewers
    if args.dry_run:
        body["dry_run"] = True
    return body


def show_submitted(
    ctx: Context, args, req, *, noun: str, created: str, waiting: Callable[[dict], str]
) -> int:
    """Show the server's answer: the dry run, or the new request (and --wait for it).

    `created` follows "Created request ID" in the plain answer, `waiting(req)` when waiting.
    """
    if not isinstance(req, dict):
        raise NetworkError(f"the server's answer to the {noun} was not a request object")
    if args.dry_run:
        if ctx.json:
            ctx.dump(req)
        else:
            ctx.print(f"Dry run: the {noun} is valid and nothing was stored. It would be:\n")
            ctx.print(render_request(ctx, req))
        return EXIT_OK
    new_id = req.get("id")
    if args.wait:
        if not ctx.json:
            ctx.print(f"Created request {new_id}{waiting(req)}.")
        return wait(ctx, req)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    ctx.print(f"Created request {new_id}{created}.\n")
    ctx.print(render_request(ctx, req))
    ctx.print(f"\nFollow it with: accessctl request show {new_id} --wait")
    return EXIT_OK
