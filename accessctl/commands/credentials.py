"""`accessctl credentials`: a signed credential of your open access, for scripts."""

from __future__ import annotations

from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_OK

HELP = """\
Print a short-lived signed credential (a JWT) of your access now: your standing
roles and the grants open now, each with its end. It expires at the earliest of
those ends and at most a few minutes from now (the server's
CREDENTIAL_MAX_LIFETIME). Services verify it with the portal's public keys at
/.well-known/jwks.json, without calling the portal.

Prints the token alone, so it can be used in place; --json (or --output json)
prints {"token": ..., "expires": ...}.

examples:
  curl -H "Authorization: Bearer $(accessctl credentials)" https://billing.example.com/
  accessctl credentials --audience billing-api
  accessctl credentials --output json"""


def register(sub, common) -> None:
    p = sub.add_parser(
        "credentials",
        parents=[common],
        help="print a signed credential of your access (JWT), for scripts",
        description=HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "--audience",
        metavar="AUD",
        help="the service it is for (its `aud`), if the server allows it; default the server's",
    )
    p.add_argument(
        "--output",
        choices=["token", "json"],
        default="token",
        help="token (default): the JWT alone; json: {token, expires}, as --json",
    )
    p.set_defaults(func=credentials, parser=p)


def credentials(ctx: Context, args) -> int:
    body = {"audience": args.audience} if args.audience else {}
    answer = ctx.client.post("credentials/", body)
    answer = answer if isinstance(answer, dict) else {}
    if ctx.json or args.output == "json":
        ctx.dump({"token": answer.get("token"), "expires": answer.get("expires")})
    else:
        ctx.print(str(answer.get("token", "")))
    return EXIT_OK
