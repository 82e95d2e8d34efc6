"""`accessctl request ...`: create (and wait for), list, show, review and withdraw requests;
`extend` lives in `request_extend.py`."""

from __future__ import annotations

from typing import Any

from accessctl import output
from accessctl.commands import args as types
from accessctl.commands import flags, request_extend
from accessctl.commands.context import HELP_FORMAT, Context, post_on_request
from accessctl.commands.ids import resolve_request, short_ids
from accessctl.commands.request_render import fetch, items, render_request, username
from accessctl.commands.request_submit import (
    add_outcome_options,
    add_timing_options,
    show_submitted,
    submit_body,
)
from accessctl.commands.request_wait import wait
from accessctl.errors import EXIT_OK

ID_HELP = "the request id, or a unique prefix of it (at least 4 characters)"

GROUP_HELP = """\
Ask for access, follow your requests, and review other people's.

examples:
  accessctl request create --roles db-admin --reason "INC-4711: fix replication" --wait
  accessctl request ls --reviewable
  accessctl request review 3f2c9d1e-... --approve --reason "on call, go ahead"
  accessctl request extend 3f2c9d1e-... --reason "INC-4711 still open" --max-duration 2h
"""

CREATE_HELP = """\
Ask for one or more roles and/or resources, with a reason. The request stays pending
until reviewers approve or deny it, or until its pending time (--request-ttl) runs out.
Access, once approved, starts at approval (or at --start, if later) and lasts the
approved duration: the smaller of --max-duration and what the policy allows.

With --wait, accessctl waits for the decision, printing each review as it arrives;
it exits 0 when the request is approved and 3 when it is denied, expires or is
withdrawn. Ctrl-C stops waiting (exit 130) and leaves the request in place.

examples:
  accessctl request create --roles db-admin --reason "INC-4711: fix replication"
  accessctl request create --roles db-admin,dev-admin --max-duration 2h \\
      --reason "release 4.2" --reviewers bob,carol --wait
  accessctl request create --resource node/db-prod-1 --reason "INC-4711" \\
      --start 2026-11-26T08:00:00Z --request-ttl 12h
  accessctl request create --roles db-admin --reason "check caps" --dry-run"""

LS_HELP = """\
List the requests you may see: your own, those you may review, and (for auditors)
everyone's. Newest first.

examples:
  accessctl request ls --mine
  accessctl request ls --reviewable
  accessctl request ls --state pending --json"""

SHOW_HELP = """\
Show one request: who asked for what and why, its state, its time window, the
thresholds it needs and the reviews so far. With --wait, keep watching until it is
decided (same exit statuses as `request create --wait`).

examples:
  accessctl request show 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33
  accessctl request show 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33 --wait"""

REVIEW_HELP = """\
Approve or deny a request you may review. Nobody reviews their own request, and each
person reviews a request once. Enough approvals approve it; enough denials deny it.

examples:
  accessctl request review 3f2c9d1e-... --approve --reason "on call, go ahead"
  accessctl request review 3f2c9d1e-... --deny --reason "use the read-only role"
  accessctl request review 3f2c9d1e-... --approve --start 2026-11-26T08:00:00Z"""

RATIFY_HELP = """\
Ratify (the default) or reject a break-glass use: emergency access its requester approved
on their own authority, which the request's eligible reviewers judge afterwards. Ratified
before its deadline, the access runs to its approved end; rejected, it is revoked now and
the requester is flagged. Unratified, it ended at the deadline. A reason is required.

examples:
  accessctl request ls --awaiting-ratification
  accessctl request ratify 3f2c9d1e-... --reason "INC-4711 is real"
  accessctl request ratify 3f2c9d1e-... --reject --reason "no incident matches"
"""

WITHDRAW_HELP = """\
Withdraw one of your own pending requests. It ends in the WITHDRAWN state (requests
are never deleted).

examples:
  accessctl request withdraw 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33
  accessctl request withdraw 3f2c9d1e-... --reason "fixed without it"""


def register(sub, common) -> None:
    group = sub.add_parser(
        "request",
        help="create, list, show, review, withdraw and extend access requests",
        description=GROUP_HELP,
        formatter_class=HELP_FORMAT,
    )
    rsub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = rsub.add_parser(
        "create",
        parents=[common],
        help="ask for roles or resources",
        description=CREATE_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "--roles",
        type=types.name_list,
        action="extend",
        default=[],
        metavar="ROLE[,ROLE...]",
        help="roles to request, comma-separated",
    )
    p.add_argument(
        "--resource",
        dest="resources",
        type=types.resource_id,
        action="extend",
        nargs="+",
        default=[],
        metavar="KIND/NAME",
        help="resources to request (repeatable), e.g. node/db-prod-1",
    )
    add_timing_options(
        p,
        reason_help="why you need it (policies may require one)",
        duration_help="how long the access should last, e.g. 4h (capped by policy; default 8h)",
        ttl_help="how long the request may stay pending, e.g. 8h (default 24h, at most 7d)",
    )
    p.add_argument(
        "--start",
        type=types.rfc3339,
        metavar="TIME",
        help="start the access no earlier than this RFC 3339 time (at most 7 days ahead)",
    )
    add_outcome_options(p, noun="request")
    p.add_argument(
        "--break-glass",
        action="store_true",
        help="emergency access, approved at once on your own authority where policy allows "
        "it; a reason is required, reviewers are told at once and must ratify it before its "
        "deadline, or the access ends there",
    )
    p.set_defaults(func=create, parser=p)

    p = rsub.add_parser(
        "ls",
        aliases=["list"],
        parents=[common],
        help="list requests",
        description=LS_HELP,
        formatter_class=HELP_FORMAT,
    )
    scope = p.add_mutually_exclusive_group()
    scope.add_argument(
        "--mine", dest="scope", action="store_const", const="mine", help="only your own"
    )
    scope.add_argument(
        "--reviewable",
        dest="scope",
        action="store_const",
        const="needs_review",
        help="only those waiting for your review",
    )
    scope.add_argument(
        "--reviewed",
        dest="scope",
        action="store_const",
        const="reviewed",
        help="only those you have reviewed",
    )
    scope.add_argument(
        "--awaiting-ratification",
        dest="scope",
        action="store_const",
        const="awaiting_ratification",
        help="only break-glass uses waiting for you to ratify or reject them",
    )
    p.add_argument(
        "--state",
        dest="states",
        type=types.state,
        choices=types.STATES,
        action="append",
        default=[],
        metavar="STATE",
        help="only in this state (repeatable; any case): " + ", ".join(types.STATES),
    )
    p.add_argument("--user", metavar="USERNAME", help="only requests by this user")
    p.set_defaults(func=ls, parser=p)

    p = rsub.add_parser(
        "show",
        parents=[common],
        help="show one request and its reviews",
        description=SHOW_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help=ID_HELP)
    p.add_argument("--wait", action="store_true", help="wait until the request is decided")
    p.set_defaults(func=show, parser=p)

    p = rsub.add_parser(
        "review",
        parents=[common],
        help="approve or deny a request",
        description=REVIEW_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help=ID_HELP)
    verdict = p.add_mutually_exclusive_group(required=True)
    verdict.add_argument(
        "--approve", dest="verdict", action="store_const", const="APPROVED", help="approve it"
    )
    verdict.add_argument(
        "--deny", dest="verdict", action="store_const", const="DENIED", help="deny it"
    )
    p.add_argument("--reason", default="", help="why (shown to the requester and audited)")
    p.add_argument(
        "--start",
        type=types.rfc3339,
        metavar="TIME",
        help="when approving: start the access no earlier than this RFC 3339 time",
    )
    p.set_defaults(func=review, parser=p)

    p = rsub.add_parser(
        "withdraw",
        parents=[common],
        help="withdraw your pending request",
        description=WITHDRAW_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help=ID_HELP)
    p.add_argument("--reason", default="", help="why (recorded in the audit log)")
    p.set_defaults(func=withdraw, parser=p)

    p = rsub.add_parser(
        "ratify",
        parents=[common],
        help="ratify or reject a break-glass use",
        description=RATIFY_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help=ID_HELP)
    verdict = p.add_mutually_exclusive_group()
    verdict.add_argument(
        "--reject",
        dest="verdict",
        action="store_const",
        const="reject",
        default="ratify",
        help="reject it: the access is revoked now and the requester flagged",
    )
    p.add_argument("--reason", default="", help="why (required; shown and audited)")
    p.set_defaults(func=ratify, parser=p)

    request_extend.register(rsub, common)


# -- commands ---------------------------------------------------------------------------------


def create(ctx: Context, args) -> int:
    if not args.roles and not args.resources:
        args.parser.error("ask for something: --roles ROLE[,ROLE...] and/or --resource KIND/NAME")
    fields = {"roles": args.roles, "resources": args.resources}
    if args.start:
        fields["assume_start_time"] = args.start
    if args.break_glass:
        options = {
            "--dry-run": args.dry_run,
            "--start": args.start,
            "--request-ttl": args.request_ttl,
            "--wait": args.wait,
        }
        given = [flag for flag, value in options.items() if value]
        if given:
            args.parser.error(
                f"--break-glass is approved at once: {', '.join(given)} does not apply"
            )
        fields["break_glass"] = True
    with flags.named_flags(flags.REQUEST):
        req = ctx.client.post("requests/", submit_body(args, **fields))
    return show_submitted(
        ctx, args, req, noun="request", created="",
        waiting=lambda req: f" for {', '.join(items(req))}",
    )  # fmt: skip


def ls(ctx: Context, args) -> int:
    params = [("scope", args.scope), ("user", args.user), *(("state", s) for s in args.states)]
    with flags.named_flags(flags.REQUEST_LS):
        rows = ctx.client.get_list("requests/", params)
    if ctx.json:
        ctx.dump(rows)
        return EXIT_OK
    if not rows:
        ctx.print("No requests.")
        return EXIT_OK
    now = output.now_utc()
    short = short_ids(req.get("id") for req in rows)
    table = []
    for req in rows:
        state = str(req.get("state", ""))
        ends = ""
        if state == "PENDING":
            ends = output.short_when(req.get("expires"), now)
        elif state == "APPROVED":
            ends = output.short_when(req.get("access_expires"), now)
        elif state == "REVOKED":
            ends = output.short_when(req.get("revoked_at"), now)
        table.append(
            [
                short.get(str(req.get("id", "")), ""),
                username(req.get("user")),
                output.truncate(", ".join(items(req)), 40),
                ctx.style.state(state),
                output.short_absolute(req.get("created")),
                ends,
                output.truncate(req.get("reason") or "", 40),
            ]
        )
    ctx.print(
        output.table(
            ["ID", "USER", "REQUESTED", "STATE", "CREATED", "ENDS", "REASON"], table, ctx.style
        )
    )
    return EXIT_OK


def show(ctx: Context, args) -> int:
    req = fetch(ctx, resolve_request(ctx, args.id))
    if args.wait:
        return wait(ctx, req)
    if ctx.json:
        ctx.dump(req)
    else:
        ctx.print(render_request(ctx, req))
    return EXIT_OK


def review(ctx: Context, args) -> int:
    body: dict[str, Any] = {"state": args.verdict, "reason": args.reason}
    if args.start:
        body["assume_start_time"] = args.start
    rid = resolve_request(ctx, args.id)
    req = post_on_request(ctx, rid, "reviews", body, flags.REVIEW)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    req = req if isinstance(req, dict) else {}
    verb = "approved" if args.verdict == "APPROVED" else "denied"
    state = str(req.get("state", ""))
    ctx.print(
        f"You {verb} request {rid} ({', '.join(items(req))} for {username(req.get('user'))})."
    )
    if state == "PENDING":
        ctx.print(f"It is still {ctx.style.state(state)}: more reviews are needed.")
    else:
        ctx.print(f"It is now {ctx.style.state(state)}.")
        if state == "APPROVED":
            now = output.now_utc()
            ctx.print(
                f"Access from {output.when(req.get('access_starts'), now)} "
                f"until {output.when(req.get('access_expires'), now)}."
            )
    return EXIT_OK


def withdraw(ctx: Context, args) -> int:
    rid = resolve_request(ctx, args.id)
    req = post_on_request(ctx, rid, "withdraw", {"reason": args.reason}, flags.REASON)
    if ctx.json:
        ctx.dump(req)
    else:
        ctx.print(f"Withdrew request {rid}.")
    return EXIT_OK


def ratify(ctx: Context, args) -> int:
    rid = resolve_request(ctx, args.id)
    body = {"verdict": args.verdict, "reason": args.reason}
    req = post_on_request(ctx, rid, "ratify", body, flags.RATIFY)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    req = req if isinstance(req, dict) else {}
    verb = "ratified" if args.verdict == "ratify" else "rejected"
    ctx.print(
        f"You {verb} the break-glass use {rid} "
        f"({', '.join(items(req))} for {username(req.get('user'))})."
    )
    now = output.now_utc()
    if req.get("state") == "REVOKED":
        ctx.print("Its access was revoked now and its requester flagged.")
    elif req.get("state") == "APPROVED" and req.get("access_expires"):
        ctx.print(f"Access continues until {output.when(req.get('access_expires'), now)}.")
    return EXIT_OK
