"""`accessctl request ...`: create (and wait for), list, show, review and withdraw requests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from accessctl import output
from accessctl.commands import args as types
from accessctl.commands.context import HELP_FORMAT, Context, not_found_as
from accessctl.errors import (
    EXIT_INTERRUPTED,
    EXIT_NO,
    EXIT_OK,
    CliError,
    NetworkError,
    ServerError,
)

GROUP_HELP = """\
Ask for access, follow your requests, and review other people's.

examples:
  accessctl request create --roles db-admin --reason "INC-4711: fix replication" --wait
  accessctl request ls --reviewable
  accessctl request review 3f2c9d1e-... --approve --reason "on call, go ahead"
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

WITHDRAW_HELP = """\
Withdraw one of your own pending requests. It ends in the WITHDRAWN state (requests
are never deleted).

examples:
  accessctl request withdraw 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33
  accessctl request withdraw 3f2c9d1e-... --reason "fixed without it"""

FINAL_EXIT = {"APPROVED": EXIT_OK}
MAX_NETWORK_RETRIES = 5
EXPIRY_GRACE = timedelta(seconds=30)  # the server's clock decides; allow for skew


def register(sub, common) -> None:
    group = sub.add_parser(
        "request",
        help="create, list, show, review and withdraw access requests",
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
    p.add_argument("--reason", default="", help="why you need it (policies may require one)")
    p.add_argument(
        "--max-duration",
        type=types.duration,
        metavar="DURATION",
        help="how long the access should last, e.g. 4h (capped by policy; default 8h)",
    )
    p.add_argument(
        "--request-ttl",
        type=types.duration,
        metavar="DURATION",
        help="how long the request may stay pending, e.g. 8h (default 24h, at most 7d)",
    )
    p.add_argument(
        "--start",
        type=types.rfc3339,
        metavar="TIME",
        help="start the access no earlier than this RFC 3339 time (at most 7 days ahead)",
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
        help="check the request and show what it would be, without storing it",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait for the decision (exit 0 approved, 3 not)"
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
    p.add_argument(
        "--state",
        dest="states",
        type=types.state,
        action="append",
        default=[],
        metavar="STATE",
        help="only in this state (repeatable): " + ", ".join(s.lower() for s in types.STATES),
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
    p.add_argument("id", metavar="ID", help="the request id")
    p.add_argument("--wait", action="store_true", help="wait until the request is decided")
    p.set_defaults(func=show, parser=p)

    p = rsub.add_parser(
        "review",
        parents=[common],
        help="approve or deny a request",
        description=REVIEW_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help="the request id")
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
    p.add_argument("id", metavar="ID", help="the request id")
    p.add_argument("--reason", default="", help="why (recorded in the audit log)")
    p.set_defaults(func=withdraw, parser=p)


# -- reading the API's request objects -------------------------------------------------------


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


def _plural(count: int, word: str) -> str:
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
            counts.append(f"{threshold[got]} of {_plural(count, word)}")
        else:
            counts.append(_plural(count, word))
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
        access.append(
            f"from {output.when(start, now, style=style)} if approved by then"
            if start
            else "from approval"
        )
    lines = output.fields(
        [
            ("Request", str(req.get("id", ""))),
            ("User", username(req.get("user"))),
            ("Roles", ", ".join(map(str, req.get("roles") or []))),
            ("Resources", ", ".join(map(str, req.get("resources") or []))),
            ("State", style.state(state)),
            ("Reason", str(req.get("reason") or "")),
            ("Created", output.when(req.get("created"), now, style=style)),
            (
                "Pending until",
                output.when(req.get("expires"), now, style=style) if state == "PENDING" else "",
            ),
            ("Access", ", ".join(access)),
            ("Access starts", output.when(req.get("access_starts"), now, style=style)),
            ("Access expires", output.when(req.get("access_expires"), now, style=style)),
            ("Reviewers", ", ".join(map(username, req.get("suggested_reviewers") or []))),
            ("Thresholds", "; ".join(threshold_text(t) for t in req.get("thresholds") or [])),
            ("Decision", str(req.get("resolve_reason") or "")),
            ("Revoked", str(req.get("revoke_reason") or "")),
        ]
    )
    if reviews(req):
        lines += "\n\nReviews:\n" + _indent(review_table(ctx, req, now))
    elif state == "PENDING":
        lines += "\n\n" + style.dim("No reviews yet.")
    return lines


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" if line else line for line in text.splitlines())


def _body(args) -> dict[str, Any]:
    body: dict[str, Any] = {"roles": args.roles, "resources": args.resources, "reason": args.reason}
    if args.max_duration:
        body["max_duration"] = args.max_duration
    if args.request_ttl:
        body["request_ttl"] = args.request_ttl
    if args.start:
        body["assume_start_time"] = args.start
    if args.reviewers:
        body["suggested_reviewers"] = args.reviewers
    if args.dry_run:
        body["dry_run"] = True
    return body


# -- commands ---------------------------------------------------------------------------------


def create(ctx: Context, args) -> int:
    if not args.roles and not args.resources:
        args.parser.error("ask for something: --roles ROLE[,ROLE...] and/or --resource KIND/NAME")
    if args.dry_run and args.wait:
        args.parser.error("--dry-run stores nothing, so there is nothing to --wait for")
    req = ctx.client.post("requests/", _body(args))
    if not isinstance(req, dict):
        raise NetworkError("the server's answer to the request was not a request object")
    if args.dry_run:
        if ctx.json:
            ctx.dump(req)
        else:
            ctx.print("Dry run: the request is valid and nothing was stored. It would be:\n")
            ctx.print(render_request(ctx, req))
        return EXIT_OK
    if args.wait:
        if not ctx.json:
            ctx.print(f"Created request {req.get('id')} for {', '.join(items(req))}.")
        return wait(ctx, req)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    ctx.print(f"Created request {req.get('id')}.\n")
    ctx.print(render_request(ctx, req))
    ctx.print(f"\nFollow it with: accessctl request show {req.get('id')} --wait")
    return EXIT_OK


def ls(ctx: Context, args) -> int:
    params = [("scope", args.scope), ("user", args.user), *(("state", s) for s in args.states)]
    rows = ctx.client.get_list("requests/", params)
    if ctx.json:
        ctx.dump(rows)
        return EXIT_OK
    if not rows:
        ctx.print("No requests.")
        return EXIT_OK
    now = output.now_utc()
    table = []
    for req in rows:
        state = str(req.get("state", ""))
        ends = ""
        if state == "PENDING":
            ends = output.short_when(req.get("expires"), now)
        elif state == "APPROVED":
            ends = output.short_when(req.get("access_expires"), now)
        table.append(
            [
                str(req.get("id", "")),
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


def fetch(ctx: Context, request_id: str) -> dict:
    try:
        req = ctx.client.get(f"requests/{request_id}/")
    except ServerError as exc:
        raise not_found_as(exc, f"request {request_id}") from None
    if not isinstance(req, dict):
        raise NetworkError("the server's answer was not a request object")
    return req


def show(ctx: Context, args) -> int:
    req = fetch(ctx, args.id)
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
    try:
        req = ctx.client.post(f"requests/{args.id}/reviews/", body)
    except ServerError as exc:
        raise not_found_as(exc, f"request {args.id}") from None
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    req = req if isinstance(req, dict) else {}
    verb = "approved" if args.verdict == "APPROVED" else "denied"
    state = str(req.get("state", ""))
    ctx.print(
        f"You {verb} request {args.id} ({', '.join(items(req))} for {username(req.get('user'))})."
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
    try:
        req = ctx.client.post(f"requests/{args.id}/withdraw/", {"reason": args.reason})
    except ServerError as exc:
        raise not_found_as(exc, f"request {args.id}") from None
    if ctx.json:
        ctx.dump(req)
    else:
        ctx.print(f"Withdrew request {args.id}.")
    return EXIT_OK


# -- waiting for a decision -------------------------------------------------------------------


def _review_line(ctx: Context, r: dict) -> str:
    state = str(r.get("state", ""))
    mark = "✓" if state == "APPROVED" else "✗" if state == "DENIED" else "•"
    enc = (getattr(ctx.stdout, "encoding", "") or "").lower()
    if "utf" not in enc:
        mark = "+" if state == "APPROVED" else "-" if state == "DENIED" else "*"
    verb = {"APPROVED": "approved", "DENIED": "denied"}.get(state, state.lower())
    reason = f": {r.get('reason')}" if r.get("reason") else ""
    created = output.parse_time(r.get("created"))
    at = f" ({output.absolute(created)})" if created else ""
    mark = ctx.style(mark, "green" if state == "APPROVED" else "red")
    return f"{mark} {reviewer(r)} {verb}{reason}{at}"


def _final(ctx: Context, req: dict) -> int:
    """Say how the request ended; 0 if approved, 3 otherwise."""
    state = str(req.get("state", ""))
    rid = req.get("id")
    now = output.now_utc()
    style = ctx.style
    if state == "APPROVED":
        ctx.note(
            f"Request {rid} {style.state('APPROVED')}: access to {', '.join(items(req))} "
            f"from {output.when(req.get('access_starts'), now)} "
            f"until {output.when(req.get('access_expires'), now)}."
        )
    elif state == "DENIED":
        why = f": {req.get('resolve_reason')}" if req.get("resolve_reason") else "."
        ctx.note(f"Request {rid} {style.state('DENIED')}{why}")
    elif state == "EXPIRED" or state == "PENDING":
        ctx.note(
            f"Request {rid} {style.state('EXPIRED')}: nobody decided before "
            f"{output.when(req.get('expires'), now)}."
        )
    elif state == "WITHDRAWN":
        ctx.note(f"Request {rid} was {style.state('WITHDRAWN')}.")
    else:
        ctx.note(f"Request {rid} is {style.state(state)}.")
    if ctx.json:
        ctx.dump(req)
    return FINAL_EXIT.get(state, EXIT_NO)


def _progress(req: dict) -> str:
    approvals = sum(1 for r in reviews(req) if r.get("state") == "APPROVED")
    expires = output.parse_time(req.get("expires"))
    left = f"; it expires {output.relative(expires)}" if expires else ""
    return f"waiting for reviewers of {req.get('id')}: {_plural(approvals, 'approval')}{left}"


def wait(ctx: Context, req: dict) -> int:
    """Poll the request until it leaves PENDING, printing reviews as they arrive.

    Ctrl-C stops waiting and leaves the request as it is (exit 130).
    """
    rid = req.get("id")
    spinner = output.Spinner(ctx.stderr, ctx.interactive)
    seen: set[tuple] = set()
    failures = 0

    def report(current: dict) -> None:
        for r in reviews(current):
            key = review_key(r)
            if key not in seen:
                seen.add(key)
                spinner.clear()
                ctx.note(_review_line(ctx, r))

    try:
        report(req)
        while req.get("state") == "PENDING":
            expires = output.parse_time(req.get("expires"))
            if expires and output.now_utc() > expires + EXPIRY_GRACE:
                break  # no worker has marked it yet, but no review can land any more
            spinner.update(_progress(req))
            ctx.sleep(ctx.poll_interval)
            try:
                req = fetch(ctx, str(rid))
                failures = 0
            except CliError as exc:
                # A dropped connection or a 502 during a deploy should not end a long wait.
                transient = isinstance(exc, NetworkError) or (
                    isinstance(exc, ServerError) and exc.status >= 500
                )
                failures += 1
                if not transient or failures > MAX_NETWORK_RETRIES:
                    follow = f"follow the request with: accessctl request show {rid} --wait"
                    exc.message = f"{exc.message.rstrip('.')}; stopped waiting"
                    exc.hint = f"{exc.hint}; then {follow}" if exc.hint else follow
                    raise
                spinner.update(f"problem reaching the server, retrying: {exc.message}")
                continue
            report(req)
    except KeyboardInterrupt:
        spinner.clear()
        print(
            f"\nStopped waiting. Request {rid} is still in place; follow it with:\n"
            f"  accessctl request show {rid}",
            file=ctx.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        spinner.clear()
    return _final(ctx, req)
