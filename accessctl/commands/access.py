"""`accessctl access check`: does a user have a role, or reach a resource, right now?"""

from __future__ import annotations

from accessctl import output
from accessctl.commands import args as types
from accessctl.commands import flags
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_NO, EXIT_OK

CHECK_HELP = """\
Ask whether USER (by default you, the signed-in user) has a role or reaches a
resource right now, through a standing role or a grant. Exits 0 when they do and 3
when they do not, so scripts can use it directly. You may check yourself; checking
others needs the requests_app.check_access permission (integration accounts).

examples:
  accessctl access check --role db-admin
  accessctl access check alice --role db-admin
  accessctl access check alice --resource node/db-prod-1
  if accessctl access check --role db-admin --output json >/dev/null; then ...; fi"""


def register(sub, common) -> None:
    group = sub.add_parser(
        "access",
        help="check whether a user has access now",
        description="Check access.\n\n" + CHECK_HELP.split("\n\n", 1)[1],
        formatter_class=HELP_FORMAT,
    )
    asub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = asub.add_parser(
        "check",
        parents=[common],
        help="does USER have a role or reach a resource now? (exit 0 yes, 3 no)",
        description=CHECK_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "user",
        metavar="USER",
        nargs="?",
        help="the user name to check (default: you, as the server knows you by your token)",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--role", metavar="ROLE", help="the role to check")
    what.add_argument(
        "--resource", type=types.resource_id, metavar="KIND/NAME", help="the resource to check"
    )
    p.set_defaults(func=check, parser=p)


def check(ctx: Context, args) -> int:
    # Without USER the server checks the caller (`user` left out of the query), so the
    # answer names who was checked.
    params = {"user": args.user, "role": args.role, "resource": args.resource}
    with flags.named_flags(flags.ACCESS_CHECK):
        answer = ctx.client.get("access/check/", params)
    answer = answer if isinstance(answer, dict) else {}
    who = args.user or str(answer.get("user") or "you")
    allowed = bool(answer.get("allowed"))
    if ctx.json:
        ctx.dump(answer)
        return EXIT_OK if allowed else EXIT_NO
    what = args.role or args.resource
    verb = "has" if args.role else "reaches"
    if allowed:
        expires = answer.get("expires")
        if expires:
            how = f" through a grant, until {output.when(expires, style=ctx.style)}"
        elif answer.get("via") == "standing":
            how = " (standing role, no end)"
        else:
            how = ""
        ctx.print(f"{ctx.style('yes', 'green')}: {who} {verb} {what}{how}.")
        return EXIT_OK
    negative = "does not have" if args.role else "does not reach"
    ctx.print(f"{ctx.style('no', 'red')}: {who} {negative} {what} now.")
    return EXIT_NO
