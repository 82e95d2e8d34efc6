"""`accessctl credentials`: a signed credential of your open access, for scripts."""

from __future__ import annotations

import argparse

from accessctl.commands import flags
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
  accessctl credentials --audience billing-api
  accessctl credentials --output json
  curl -H "Authorization: Bearer $(accessctl credentials)" https://billing.example.com/"""


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
        "-o",
        choices=["token", "text", "json"],
        default=argparse.SUPPRESS,
        help="token or text (default): the JWT alone; json: {token, expires}, as --json",
    )
    p.set_defaults(func=credentials, parser=p)


def credentials(ctx: Context, args) -> int:
    body = {"audience": args.audience} if args.audience else {}
    with flags.named_flags(flags.CREDENTIALS):
        answer = ctx.client.post("credentials/", body)
    answer = answer if isinstance(answer, dict) else {}
    if ctx.json:
        ctx.dump({"token": answer.get("token"), "expires": answer.get("expires")})
    else:
        ctx.print(str(answer.get("token", "")))
    return EXIT_OK
