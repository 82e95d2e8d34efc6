"""`accessctl request extend ID`: ask for more time on access you have."""

from __future__ import annotations

from accessctl.commands import flags
from accessctl.commands.context import HELP_FORMAT, Context, post_on_request
from accessctl.commands.ids import resolve_request
from accessctl.commands.request_render import items
from accessctl.commands.request_submit import (
    add_outcome_options,
    add_timing_options,
    show_submitted,
    submit_body,
)

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
    p.add_argument(
        "id", metavar="ID", help="the approved request whose access to extend (or a unique prefix)"
    )
    add_timing_options(
        p,
        reason_help="why you need more time (policies may require one)",
        duration_help="how much more access time, e.g. 2h (capped by policy; default 8h)",
        ttl_help="how long the extension may stay pending, e.g. 1h (default 24h, at most 7d)",
    )
    add_outcome_options(p, noun="extension")
    p.set_defaults(func=extend, parser=p)


def extend(ctx: Context, args) -> int:
    body = submit_body(args)
    rid = resolve_request(ctx, args.id)
    req = post_on_request(ctx, rid, "extend", body, flags.REQUEST)
    return show_submitted(
        ctx, args, req, noun="extension", created=f" to extend {rid}",
        waiting=lambda req: f" to extend {rid} ({', '.join(items(req))})",
    )  # fmt: skip
