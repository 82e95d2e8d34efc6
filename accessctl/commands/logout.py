"""`accessctl logout`: forget the stored token.

The API has no call for a token to revoke itself (tokens are revoked on the portal's API
token page, /tokens/), so the token is removed from this machine only, and the command says
that it stays valid on the server until revoked there, or, for a `login --sso` session,
until it expires.
"""

from __future__ import annotations

from accessctl import config, output
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_OK

HELP = """\
Remove the stored API token from your configuration file ({path}); the
server URL stays, so `accessctl login` needs no --url next time.

The token itself stays valid on the server: the API has no way for a token to revoke
itself yet. Revoke a personal token (from `login` or `login --user`; every machine that
logged in with --user shares it) on the portal's API token page, /tokens/; a `login --sso`
session ends when it expires, or with "Sign out" beside it on that page.
ACCESSPORTAL_TOKEN, when set, is not stored by accessctl: unset it yourself.
Logging out when not logged in does nothing and succeeds.

examples:
  accessctl logout
  accessctl logout --output json"""


def register(sub, common) -> None:
    p = sub.add_parser(
        "logout",
        parents=[common],
        help="remove the stored token from this machine",
        description=HELP.format(path=config.config_path()),
        formatter_class=HELP_FORMAT,
    )
    p.set_defaults(func=logout, parser=p)


def _server_side(stored: dict, page: str) -> tuple[str, str | None]:
    """What became of the token on the server: a sentence, and when it stops working
    (None: when revoked)."""
    expires = output.parse_time(str(stored.get("expires_at") or ""))
    if expires is None:
        return (
            "The token stays valid on the server until you revoke it on the portal's API "
            f"token page, {page} (that ends it on every machine and script using it).",
            None,
        )
    until = str(stored["expires_at"])
    if expires <= output.now_utc():
        return "The session had already expired on the server.", until
    return (
        f"The session stays valid on the server until {output.when(until)}, or until you "
        f"sign it out on the portal's API token page, {page}.",
        until,
    )


def logout(ctx: Context, args) -> int:
    path = config.config_path(ctx.environ)
    stored = config.forget(path)
    env_token = bool(ctx.environ.get(config.ENV_TOKEN, "").strip())
    url = str(stored.get("url") or "")
    page = f"{url}/tokens/" if url else "/tokens/ on the portal"
    logged_out = bool(stored)
    sentence, valid_until = _server_side(stored, page) if logged_out else ("", None)
    if stored.get("unreadable"):
        sentence, page = f"{path} could not be read, so it was deleted.", ""
    if env_token:
        ctx.warn(
            f"{config.ENV_TOKEN} is set in your environment: accessctl still uses it "
            f"until you unset it"
        )
    if ctx.json:
        ctx.dump(
            {
                "logged_out": logged_out,
                "url": url or None,
                "user": stored.get("user") or None,
                "config_file": str(path),
                "revoked_on_server": False,
                "valid_until": valid_until,
                "revoke_at": page if logged_out and page else None,
                "environment_token": env_token,
            }
        )
        return EXIT_OK
    if not logged_out:
        ctx.print(f"Not logged in: no token stored in {path}. Nothing to do.")
        return EXIT_OK
    who = f" as {stored['user']}" if stored.get("user") else ""
    where = f" of {url}{who}" if url else ""
    ctx.print(f"Logged out{where}: removed the token from {path}.")
    ctx.print(sentence)
    return EXIT_OK
