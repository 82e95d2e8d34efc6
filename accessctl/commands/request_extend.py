"""`accessctl request extend ID`: ask for more time on access you have."""

from __future__ import annotations

from typing import Any

from accessctl.commands import args as types
from accessctl.commands.context import HELP_FORMAT, Context, not_found_as
from accessctl.commands.request_render import items, render_request
from accessctl.commands.request_wait import wait
from accessctl.errors import EXIT_OK, NetworkError, ServerError

EXTEND_HELP = """\
Ask for more time on access you have. The extension is a new request for the same
roles and resources, linked to the approved request ID and reviewed like any other
(today's policy decides who reviews it, whether a reason is required and the cap on
its duration). If it is approved, the new access starts when the current access ends
(or at approval, if that is later), so there is no gap.

Only the requester can extend, only approved access that has not ended, and one
extension at a time may wait for review. With --wait, accessctl waits for the decision
(exit 0 approved; 3 denied, expired or withdrawn), as `request create --wait` does.

examples:
  accessctl request extend 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33 --reason "INC-4711 still open"
  accessctl request extend 3f2c9d1e-... --reason "INC-4711" --max-duration 2h --wait
  accessctl request extend 3f2c9d1e-... --reason "how long could I get?" --dry-run"""


def register(rsub, common) -> None:
    p = rsub.add_parser(
        "extend",
        parents=[common],
        help="ask for more time on approved access",
        description=EXTEND_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help="the approved request whose access to extend")
    p.add_argument("--reason", default="", help="why you need more time (policies may require one)")
    p.add_argument(
        "--max-duration",
        type=types.duration,
        metavar="DURATION",
        help="how much more access time, e.g. 2h (capped by policy; default 8h)",
    )
    p.add_argument(
        "--request-ttl",
        type=types.duration,
        metavar="DURATION",
        help="how long the extension may stay pending, e.g. 1h (default 24h, at most 7d)",
    )
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
        help="check the extension and show what it would be, without storing it",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait for the decision (exit 0 approved, 3 not)"
    )
    p.set_defaults(func=extend, parser=p)


def _body(args) -> dict[str, Any]:
    body: dict[str, Any] = {"reason": args.reason}
    if args.max_duration:
        body["max_duration"] = args.max_duration
    if args.request_ttl:
        body["request_ttl"] = args.request_ttl
    if args.reviewers:
        body["suggested_reviewers"] = args.reviewers
    if args.dry_run:
        body["dry_run"] = True
    return body


def extend(ctx: Context, args) -> int:
    if args.dry_run and args.wait:
        args.parser.error("--dry-run stores nothing, so there is nothing to --wait for")
    try:
        req = ctx.client.post(f"requests/{args.id}/extend/", _body(args))
    except ServerError as exc:
        raise not_found_as(exc, f"request {args.id}") from None
    if not isinstance(req, dict):
        raise NetworkError("the server's answer to the extension was not a request object")
    if args.dry_run:
        if ctx.json:
            ctx.dump(req)
        else:
            ctx.print("Dry run: the extension is valid and nothing was stored. It would be:\n")
            ctx.print(render_request(ctx, req))
        return EXIT_OK
    new_id = req.get("id")
    if args.wait:
        if not ctx.json:
            ctx.print(f"Created request {new_id} to extend {args.id} ({', '.join(items(req))}).")
        return wait(ctx, req)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    ctx.print(f"Created request {new_id} to extend {args.id}.\n")
    ctx.print(render_request(ctx, req))
    ctx.print(f"\nFollow it with: accessctl request show {new_id} --wait")
    return EXIT_OK
