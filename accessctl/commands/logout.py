"""`accessctl logout`: sign the stored token out on the server, then forget it.

The stored token signs itself out with `DELETE auth/token/current/`: a `login --sso` session
token ends at once; the personal token (shared by every machine and script that logged in
with it) ends only with `--everywhere` (`?everywhere=true`), else the server answers 409
`shared_token` and it stays valid. Which token is shared is the server's rule: the CLI
asks and reports what the server said. Whatever the server says, or if it cannot be reached,
the token is removed from this machine: logout never leaves anyone stuck logged in.
"""

from __future__ import annotations

from accessctl import config, output
from accessctl.client import ApiClient
from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_OK, EXIT_SERVER, AuthError, CliError, NetworkError, ServerError

SIGN_OUT = "auth/token/current/"

HELP = """\
Sign the stored API token out on the server, then remove it from your configuration
file ({path}); the server URL stays, so `accessctl login` needs no --url next time.

  - a `login --sso` session token is revoked on the server;
  - the personal token (from `login` or `login --user`) is shared by every machine and
    script that logged in with it, so by default it stays valid on the server and only
    this machine forgets it; with --everywhere it is revoked on the server, which logs
    out every machine and script using it.

The token is removed from this machine in every case: when the server cannot be reached
(a warning says the token may still be valid and where to revoke it: the portal's API
token page, /tokens/), when it was already invalid (revoked or expired), or when the server
refuses to sign it out.
ACCESSPORTAL_TOKEN, when set, was not stored by accessctl: logout neither revokes nor
removes it (it warns you to unset it). Logging out when not logged in does nothing.

exit status: 0 logged out (also when the server could not be reached, or the token was
already invalid); 1 the server refused or failed to sign the token out (it was still
removed from this machine).

examples:
  accessctl logout
  accessctl logout --everywhere
  accessctl logout --output json"""

# What became of the token on the server (`server` in --output json).
REVOKED = "revoked"  # this logout ended it
STILL_VALID = "still_valid"  # the personal token, shared: not ended without --everywhere
ALREADY_INVALID = "already_invalid"  # the server refused it: revoked or expired before
EXPIRED = "expired"  # a session whose expiry had passed: the server was not asked
UNREACHABLE = "unreachable"  # no answer: it may still be valid
FAILED = "failed"  # the server answered with another error: it may still be valid


def register(sub, common) -> None:
    p = sub.add_parser(
        "logout",
        parents=[common],
        help="sign the stored token out on the server and remove it from this machine",
        description=HELP.format(path=config.config_path()),
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "--everywhere",
        action="store_true",
        help="also revoke the personal token on the server: every machine and script "
        "using it is logged out (a --sso session token is revoked without it)",
    )
    p.set_defaults(func=logout, parser=p)


def _peek(path) -> dict:
    """The stored settings before they are forgotten ({} if unreadable: forget deletes it)."""
    try:
        return config.load_file(path, warn=lambda text: None)
    except CliError:
        return {}


def _sign_out(ctx: Context, stored: dict, everywhere: bool) -> tuple[str, str]:
    """Ask the server to end the stored token: (outcome, what the server said)."""
    expires = output.parse_time(str(stored.get("expires_at") or ""))
    if expires is not None and expires <= output.now_utc():
        return EXPIRED, ""
    client = ApiClient(config.normalize_url(stored["url"]), stored["token"], timeout=ctx.timeout)
    client.sleep = ctx.sleep
    try:
        client.delete(SIGN_OUT, {"everywhere": "true"} if everywhere else None)
    except AuthError as exc:
        # After a lost answer, the refusal most likely means the first attempt ended it.
        return (REVOKED if getattr(exc, "after_lost_answer", False) else ALREADY_INVALID), ""
    except NetworkError as exc:
        return UNREACHABLE, exc.message
    except ServerError as exc:
        if exc.status == 409 and exc.code == "shared_token" and not everywhere:
            return STILL_VALID, exc.message
        return FAILED, exc.message
    return REVOKED, ""


def _sentence(outcome: str, stored: dict, page: str) -> str:
    session = bool(stored.get("expires_at"))
    until = str(stored.get("expires_at") or "")
    if outcome == REVOKED:
        if session:
            return "Signed out: the session token was revoked on the server."
        return (
            "Signed out everywhere: the personal token was revoked on the server; every "
            "machine and script that used it must log in again."
        )
    if outcome == STILL_VALID:
        return (
            "The personal token stays valid on the server: other machines and scripts that "
            "logged in with it share it. To revoke it everywhere, use `accessctl logout "
            "--everywhere` (log in again first: the token is no longer stored here), or "
            f"revoke it on the portal's API token page, {page}."
        )
    if outcome == ALREADY_INVALID:
        return "The token was already invalid on the server (revoked or expired)."
    if outcome == EXPIRED:
        return f"The session had already expired on the server (at {output.when(until)})."
    ends = f", or until it expires at {output.when(until)}" if session else ""
    return f"The token may still be valid on the server until you revoke it at {page}{ends}."


def logout(ctx: Context, args) -> int:
    path = config.config_path(ctx.environ)
    everywhere = bool(getattr(args, "everywhere", False))
    before = _peek(path)
    outcome, said = "", ""
    if before.get("token") and before.get("url"):
        outcome, said = _sign_out(ctx, before, everywhere)
    stored = config.forget(path)
    env_token = bool(ctx.environ.get(config.ENV_TOKEN, "").strip())
    url = str(stored.get("url") or "")
    page = f"{url}/tokens/" if url else "/tokens/ on the portal"
    logged_out = bool(stored)
    may_be_valid = outcome in (STILL_VALID, UNREACHABLE, FAILED) or (logged_out and not outcome)
    sentence = _sentence(outcome, stored, page) if logged_out else ""
    if stored.get("unreadable"):
        sentence, may_be_valid = f"{path} could not be read, so it was deleted.", False
    if env_token:
        ctx.warn(
            f"{config.ENV_TOKEN} is set in your environment: accessctl still uses it "
            f"until you unset it (logout does not revoke a token it did not store)"
        )
    if outcome == UNREACHABLE:
        ctx.warn(f"could not sign the token out on the server ({said}). {sentence}")
    elif outcome == FAILED and not ctx.json:
        print(
            f"accessctl: error: the server did not sign the token out ({said}). {sentence}",
            file=ctx.stderr,
        )
    code = EXIT_SERVER if outcome == FAILED else EXIT_OK
    if ctx.json:
        session = bool(stored.get("expires_at"))
        ctx.dump(
            {
                "logged_out": logged_out,
                "url": url or None,
                "user": stored.get("user") or None,
                "config_file": str(path),
                "revoked_on_server": outcome == REVOKED,
                "server": outcome or None,
                "everywhere": everywhere,
                "server_message": said or None,
                "valid_until": (stored.get("expires_at") if may_be_valid and session else None),
                "revoke_at": page if may_be_valid else None,
                "environment_token": env_token,
            }
        )
        return code
    if not logged_out:
        ctx.print(f"Not logged in: no token stored in {path}. Nothing to do.")
        return code
    who = f" as {stored['user']}" if stored.get("user") else ""
    where = f" of {url}{who}" if url else ""
    ctx.print(f"Logged out{where}: removed the token from {path}.")
    if outcome not in (UNREACHABLE, FAILED):
        ctx.print(sentence)
    return code
