"""`accessctl grants ls`, `grants show` and `grants end`: the access approved requests gave,
and how far it got in the systems it is provisioned into."""

from __future__ import annotations

from accessctl import output
from accessctl.commands import flags
from accessctl.commands.context import HELP_FORMAT, Context, post_on_request
from accessctl.commands.ids import NotAnId, resolve_request, short_ids
from accessctl.commands.request_render import items, username
from accessctl.errors import EXIT_OK, ServerError, UsageError

LS_HELP = """\
List grants: the roles and resources approved requests gave, with their time windows.
You see your own; reviewers and auditors see more (use --user).

PROVISIONING counts the targets (PostgreSQL roles, LDAP groups...) the grant's role or
resource is provisioned into, by state; STATUS "revoking" means the access ended but a
target has not yet confirmed the removal. `grants show ID` lists each target.

examples:
  accessctl grants ls --active
  accessctl grants ls --user alice --json"""

SHOW_HELP = """Show one grant: its window, its status, and each provisioning target with its state
(pending, applied, failed, revoking, removed, kept) and the last error.

examples:
  accessctl grants show 42
  accessctl grants show 42 --json"""

END_HELP = """\
End access early. Access is granted per request, so this ends every grant of the
request the grant came from (the request becomes REVOKED). ID is a grant id from
`accessctl grants ls` (a number), or a request id or a unique prefix of one. The
requester, an eligible reviewer of the request, or a holder of
requests_app.revoke_grant may do this; a reason is recorded.

examples:
  accessctl grants end 42
  accessctl grants end 42 --reason "done, fixed in INC-4711"
  accessctl grants end 3f2c9d1e-5b7a-4c1e-9a0d-2b8e6f4a1c33 --reason "left the team\""""

DEFAULT_END_REASON = "ended early with accessctl"


def register(sub, common) -> None:
    group = sub.add_parser(
        "grants",
        help="list your access and end it early",
        description="List granted access and end it early.\n\nexamples:\n"
        "  accessctl grants ls --active\n  accessctl grants end 42",
        formatter_class=HELP_FORMAT,
    )
    gsub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = gsub.add_parser(
        "ls",
        aliases=["list"],
        parents=[common],
        help="list grants",
        description=LS_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("--active", action="store_true", help="only access that is in force now")
    p.add_argument("--user", metavar="USERNAME", help="only this user's grants")
    p.set_defaults(func=ls, parser=p)

    p = gsub.add_parser(
        "show",
        parents=[common],
        help="show a grant and its provisioning per target",
        description=SHOW_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help="a grant id (from `accessctl grants ls`)")
    p.set_defaults(func=show, parser=p)

    p = gsub.add_parser(
        "end",
        parents=[common],
        help="end access early (revokes the grant's request)",
        description=END_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("id", metavar="ID", help="a grant id (or a request id, or its unique prefix)")
    p.add_argument(
        "--reason", default=DEFAULT_END_REASON, help=f"why (default: {DEFAULT_END_REASON!r})"
    )
    p.set_defaults(func=end, parser=p)


def status(grant: dict, now) -> str:
    """The server's word for the grant (`scheduled`, `active`, `ended`, `revoked`,
    `revoking`: README and docs/provisioning.md); from its fields only for an older server
    that does not say."""
    server = grant.get("status")
    if isinstance(server, str) and server:
        return server
    if grant.get("revoked"):
        return "revoked"
    if grant.get("active") is True:
        return "active"
    starts = output.parse_time(grant.get("starts"))
    expires = output.parse_time(grant.get("expires"))
    if expires and expires <= now:
        return "ended"
    if starts and starts > now:
        return "scheduled"
    return "active"


def ends(grant: dict, now) -> str:
    """When the access ends or ended: its expiry, or for revoked access the moment it was
    revoked (never an "in 3h" it will not reach)."""
    if grant.get("revoked") or status(grant, now) in ("revoked", "revoking"):
        revoked_at = grant.get("revoked_at")
        return f"revoked {output.when(revoked_at, now)}" if revoked_at else "revoked"
    return output.when(grant.get("expires"), now)


PROVISION_ORDER = ("failed", "revoking", "pending", "applied", "kept", "removed")


def provisioning_rows(grant: dict) -> list[dict]:
    rows = grant.get("provisioning")
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def provisioning_summary(grant: dict) -> str:
    """ "2 applied, 1 failed" (worst first), or "-" when nothing is provisioned."""
    counts: dict[str, int] = {}
    for row in provisioning_rows(grant):
        state = str(row.get("state", "?"))
        counts[state] = counts.get(state, 0) + 1
    if not counts:
        return "-"
    rank = {state: i for i, state in enumerate(PROVISION_ORDER)}
    ordered = sorted(counts, key=lambda s: rank.get(s, len(rank)))
    return ", ".join(f"{counts[s]} {s}" for s in ordered)


def target(grant: dict) -> str:
    return str(grant.get("role") or grant.get("resource") or "")


def request_of(grant: dict) -> str:
    req = grant.get("request")
    return str(req.get("id", "")) if isinstance(req, dict) else str(req or "")


def ls(ctx: Context, args) -> int:
    params = {"active": "true" if args.active else None, "user": args.user}
    with flags.named_flags(flags.GRANTS_LS):
        rows = ctx.client.get_list("grants/", params)
    if ctx.json:
        ctx.dump(rows)
        return EXIT_OK
    if not rows:
        ctx.print("No active access." if args.active else "No grants.")
        return EXIT_OK
    now = output.now_utc()
    rows = [g for g in rows if isinstance(g, dict)]
    short = short_ids(request_of(g) for g in rows)
    table = [
        [
            str(g.get("id", "")),
            username(g.get("user")),
            target(g),
            ctx.style.state(status(g, now)),
            provisioning_summary(g),
            output.when(g.get("starts"), now),
            ends(g, now),
            short.get(request_of(g), ""),
        ]
        for g in rows
    ]
    ctx.print(
        output.table(
            ["ID", "USER", "ACCESS", "STATUS", "PROVISIONING", "STARTS", "ENDS", "REQUEST"],
            table,
            ctx.style,
        )
    )
    return EXIT_OK


def _find_grant(ctx: Context, grant_id: str) -> dict:
    """The grant with this id among those the caller may see (the API lists, never fetches
    one): active ones first, as those are what people end."""
    if not grant_id.isdigit():
        raise UsageError(f"{grant_id!r} is neither a grant id (a number) nor a request id")
    for params in ({"active": "true"}, None):
        for grant in ctx.client.get_list("grants/", params):
            if isinstance(grant, dict) and str(grant.get("id")) == grant_id:
                return grant
    raise ServerError(f"grant {grant_id} not found (or you may not see it)", status=404)


def show(ctx: Context, args) -> int:
    grant = _find_grant(ctx, args.id)
    if ctx.json:
        ctx.dump(grant)
        return EXIT_OK
    now = output.now_utc()
    ctx.print(
        output.fields(
            [
                ("Grant", str(grant.get("id", ""))),
                ("User", username(grant.get("user"))),
                ("Access", target(grant)),
                ("Status", ctx.style.state(status(grant, now))),
                ("Starts", output.when(grant.get("starts"), now)),
                ("Ends", ends(grant, now)),
                ("Request", request_of(grant)),
            ]
        )
    )
    rows = provisioning_rows(grant)
    if not rows:
        ctx.print("Provisioning: none (its role or resource names no target).")
        return EXIT_OK
    ctx.print("Provisioning:")
    table = [
        [
            str(r.get("target", "")),
            str(r.get("provisioner", "")),
            ctx.style.state(str(r.get("state", ""))),
            output.when(r.get("updated"), now) if r.get("updated") else "-",
            output.truncate(str(r.get("error") or ""), 120),
        ]
        for r in rows
    ]
    headers = ["TARGET", "PROVISIONER", "STATE", "UPDATED", "ERROR"]
    ctx.print(output.table(headers, table, ctx.style))
    return EXIT_OK


def end(ctx: Context, args) -> int:
    # Grant ids are integers, request ids UUIDs (or a unique prefix): either names the
    # request to revoke.
    request_id = None
    if args.id.isdigit():
        try:
            request_id = request_of(_find_grant(ctx, args.id))
        except ServerError as no_grant:
            # All digits and no such grant: it may still begin a request id ("123456").
            # Found as neither: the missing grant is what to say, as digits are what a
            # grant id looks like (whatever the number of them).
            try:
                request_id = resolve_request(ctx, args.id)
            except NotAnId:
                raise no_grant from None
            except ServerError as no_request:
                if no_request.status == 404:
                    raise no_grant from None
                raise
    if request_id is None:
        request_id = resolve_request(ctx, args.id)
    req = post_on_request(ctx, request_id, "revoke", {"reason": args.reason}, flags.REASON)
    if ctx.json:
        ctx.dump(req)
        return EXIT_OK
    req = req if isinstance(req, dict) else {}
    ctx.print(
        f"Ended access to {', '.join(items(req)) or 'everything'} "
        f"for {username(req.get('user')) or 'the requester'} (request {request_id} is now "
        f"{ctx.style.state(str(req.get('state', 'REVOKED')))})."
    )
    return EXIT_OK
