"""`accessctl login` and `accessctl whoami`."""

from __future__ import annotations

import getpass
from urllib.parse import urlsplit

from accessctl import config, output
from accessctl.client import ApiClient
from accessctl.commands import flags, sso
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import AuthError, ServerError, UsageError

LOGIN_HELP = """\
Store the server URL and an API token in your configuration file
({path}, mode 0600).

With --sso, sign in through the portal in your browser (however you sign in there:
single sign-on or password). accessctl opens the portal, you confirm, and it stores a
token that lasts as long as the server allows (12 hours by default); when it runs out,
commands say "your session expired". On a machine without a browser (or with
--device), accessctl prints a URL and a code to enter in any browser instead;
--no-browser (or ACCESSPORTAL_NO_BROWSER) prints the URL to open on this machine.

Without --sso or --user, you are asked for an existing token (it is not echoed; create
one in the portal or ask an administrator). With --user, you are asked for your password
and a token is obtained from the server (POST /api/v1/auth/token/).
When stdin is not a terminal, the token or password is read from its first line.
--url may be left out after the first login: the stored server is used.

ACCESSPORTAL_URL and ACCESSPORTAL_TOKEN, when set, take precedence over the file.

examples:
  accessctl login --sso --url https://access.example.com
  accessctl login --sso --device
  accessctl login --url https://access.example.com --user alice
  echo "$TOKEN" | accessctl login --url https://access.example.com"""

WHOAMI_HELP = """\
Show who the server thinks you are: your standing roles, the access granted to you
right now, and what you may request.

examples:
  accessctl whoami
  accessctl whoami --json"""


def register(sub, common) -> None:
    p = sub.add_parser(
        "login",
        parents=[common],
        help="store the server URL and your token",
        description=LOGIN_HELP.format(path=config.config_path()),
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "--url",
        "--portal",
        dest="url",
        help="the Access Portal server, e.g. https://access.example.com "
        "(default: the one you logged in to last)",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--user",
        metavar="USERNAME",
        help="obtain a token with this user name and your password instead of pasting one",
    )
    how.add_argument(
        "--sso",
        action="store_true",
        help="sign in through the portal in your browser; the token expires",
    )
    p.add_argument(
        "--device",
        action="store_true",
        help="with --sso: print a URL and a code to enter in any browser (no local browser)",
    )
    p.add_argument(
        "--no-browser",
        action="store_true",
        help="with --sso: print the sign-in URL instead of opening a browser",
    )
    p.set_defaults(func=login, parser=p)

    p = sub.add_parser(
        "whoami",
        parents=[common],
        help="show your user, roles and current access",
        description=WHOAMI_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.set_defaults(func=whoami, parser=p)


def _secret(ctx: Context, prompt: str) -> str:
    if getattr(ctx.stdin, "isatty", lambda: False)():
        try:
            return getpass.getpass(prompt, stream=ctx.stderr).strip()
        except EOFError:
            return ""
    return ctx.stdin.readline().strip()


def login(ctx: Context, args) -> int:
    raw_url = args.url or config.stored_url(ctx.environ)
    if not raw_url:
        raise UsageError("which server? give --url https://access.example.com")
    url = config.normalize_url(raw_url)
    host = urlsplit(url).hostname or ""
    if url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
        ctx.warn(f"{url} is not https; your token will cross the network unencrypted")
    if (args.device or args.no_browser) and not args.sso:
        raise UsageError("--device and --no-browser go with --sso")
    if args.sso:
        return _login_sso(ctx, args, url)
    if args.user:
        password = _secret(ctx, f"Password for {args.user} at {url}: ")
        if not password:
            raise UsageError("no password given")
        anonymous = ApiClient(url, None, timeout=ctx.timeout)
        try:
            with flags.named_flags(flags.LOGIN):
                answer = anonymous.post(
                    "auth/token/", {"username": args.user, "password": password}
                )
        except ServerError as exc:
            if exc.status in (400, 401, 403):
                raise AuthError(f"login refused: {exc.message}") from None
            raise
        token = (answer or {}).get("token") if isinstance(answer, dict) else None
        if not token:
            raise AuthError(f"{url} did not return a token for {args.user}")
    else:
        token = _secret(ctx, f"API token for {url}: ")
        if not token:
            raise UsageError("no token given")
    me = ApiClient(url, token, timeout=ctx.timeout).get("me/")
    user = _username(me)
    path = config.save(url=url, token=token, user=user, path=config.config_path(ctx.environ))
    if ctx.json:
        ctx.dump(me)
    else:
        ctx.print(f"Logged in to {url} as {user or 'unknown user'}.")
        ctx.print(ctx.style.dim(f"Saved to {path} (readable only by you)."))
    return 0


def _login_sso(ctx: Context, args, url: str) -> int:
    print_only = args.no_browser or bool(ctx.environ.get("ACCESSPORTAL_NO_BROWSER"))
    token = None
    if not args.device:
        token = sso.loopback(ctx, url, print_only=print_only)
        if token is None:
            ctx.note("No browser could be opened here; sign in from another device instead.")
    if token is None:
        token = sso.device(ctx, url)
    path = config.save(
        url=url,
        token=token.token,
        user=token.user,
        expires_at=token.expires_at,
        path=config.config_path(ctx.environ),
    )
    if ctx.json:
        ctx.dump({"url": url, "user": token.user, "expires_at": token.expires_at})
    else:
        until = output.when(token.expires_at) or "the server says"
        ctx.print(f"Logged in to {url} as {token.user or 'unknown user'} until {until}.")
        ctx.print(ctx.style.dim(f"Saved to {path} (readable only by you)."))
    return 0


def _username(me: object) -> str:
    if not isinstance(me, dict):
        return ""
    user = me.get("user", me.get("username", ""))
    if isinstance(user, dict):
        user = user.get("username", "")
    return str(user or "")


def _names(items: object) -> list[str]:
    names = []
    for item in items or []:
        if isinstance(item, dict):
            names.append(str(item.get("name") or item.get("role") or item.get("resource") or ""))
        else:
            names.append(str(item))
    return [n for n in names if n]


def whoami(ctx: Context, args) -> int:
    me = ctx.client.get("me/")
    if ctx.json:
        ctx.dump(me)
        return 0
    me = me if isinstance(me, dict) else {}
    now = output.now_utc()
    grants = []
    for grant in me.get("active_grants") or me.get("grants") or []:
        if isinstance(grant, dict):
            target = grant.get("role") or grant.get("resource") or ""
            grants.append(f"{target} until {output.when(grant.get('expires'), now)}")
    requestable = me.get("requestable_roles") or me.get("requestable") or []
    ctx.print(
        output.fields(
            [
                ("User", _username(me)),
                ("Server", ctx.settings.url),
                ("Standing roles", ", ".join(_names(me.get("roles") or me.get("standing_roles")))),
                ("May request", ", ".join(_names(requestable))),
                ("Reviews requests", _yes_no(me.get("is_reviewer", me.get("reviewer")))),
            ]
        )
    )
    if grants:
        ctx.print("Active access:")
        for line in grants:
            ctx.print(f"  {line}")
    return 0


def _yes_no(value: object) -> str:
    if value is None:
        return ""
    return "yes" if value else "no"
