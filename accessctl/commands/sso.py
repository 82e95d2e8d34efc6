"""`accessctl login --sso`: sign in through the portal in a browser, get a session token.

Loopback (default; RFC 8252 with PKCE): listen on 127.0.0.1 on a free port, open
`<portal>/cli/login/?port=P&state=S&code_challenge=C`; the person confirms there, the
portal redirects to `http://127.0.0.1:P/callback?code=K&state=S`, and the code and the
verifier buy a token (`POST /api/v1/auth/cli/token/`). Device (RFC 8628; `--device`, or
when no browser opens): print a URL and a code, poll until someone approves it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from accessctl.client import ApiClient
from accessctl.commands.context import Context, _env_float
from accessctl.errors import AuthError, ServerError

DEFAULT_TIMEOUT = 300.0
DONE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>accessctl</title><h1>{title}</h1><p>{text}</p>"
)


@dataclass
class Token:
    token: str
    expires_at: str
    user: str


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _Callback:
    """A one-shot HTTP listener on 127.0.0.1 that waits for the portal's redirect."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.query: dict[str, str] | None = None
        self.done = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the terminal is for the person, not a log
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path != "/callback":
                    return self._page(404, "Not found", "accessctl waits at /callback only.")
                if query.get("state") != outer.state:
                    # Not the sign-in this CLI started: ignore it and keep waiting.
                    return self._page(400, "Wrong sign-in", "This link is not for this accessctl.")
                if query.get("error"):
                    self._page(200, "Sign-in cancelled", "You may close this tab.")
                else:
                    self._page(200, "accessctl is signing in", "Return to your terminal.")
                outer.query = query
                outer.done.set()

            def _page(self, status: int, title: str, text: str) -> None:
                body = DONE_PAGE.format(title=title, text=text).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, timeout: float) -> dict[str, str] | None:
        self.done.wait(timeout)
        return self.query

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def loopback(ctx: Context, url: str, *, print_only: bool) -> Token | None:
    """The token from a browser sign-in on this machine; None when no browser could be
    opened (the caller falls back to the device flow)."""
    verifier = secrets.token_urlsafe(48)
    state = secrets.token_urlsafe(24)
    callback = _Callback(state)
    query = urlencode(
        {"port": callback.port, "state": state, "code_challenge": _challenge(verifier)}
    )
    link = f"{url}/cli/login/?{query}"
    try:
        if print_only:
            ctx.note(f"Open this URL in a browser on this machine to sign in:\n  {link}")
        elif ctx.open_browser(link):
            ctx.note(f"Your browser is open to sign in. If it is not, open:\n  {link}")
        else:
            return None
        timeout = _env_float(ctx.environ, "ACCESSPORTAL_LOGIN_TIMEOUT", DEFAULT_TIMEOUT)
        answer = callback.wait(timeout)
    finally:
        callback.close()
    if answer is None:
        raise AuthError(f"no sign-in from the browser within {timeout:g} seconds")
    if answer.get("error"):
        raise AuthError("sign-in cancelled in the browser")
    body = {"code": answer.get("code", ""), "code_verifier": verifier}
    try:
        data = ApiClient(url, None, timeout=ctx.timeout).post("auth/cli/token/", body)
    except ServerError as exc:
        if exc.status == 400:
            raise AuthError(f"sign-in refused: {exc.message}") from None
        raise
    return _token(url, data)


def device(ctx: Context, url: str) -> Token:
    """The token from a device sign-in: the person approves a code in any browser."""
    anonymous = ApiClient(url, None, timeout=ctx.timeout)
    start = anonymous.post("auth/device/")
    if not isinstance(start, dict) or not start.get("device_code"):
        raise AuthError(f"{url} did not start a device sign-in")
    ctx.note(
        f"To sign in, open {start.get('verification_uri')} in any browser and enter the code\n"
        f"  {start.get('user_code')}\n"
        f"or open {start.get('verification_uri_complete')}"
    )
    interval = float(start.get("interval") or 5)
    deadline = time.monotonic() + float(start.get("expires_in") or 600)
    while time.monotonic() < deadline:
        ctx.sleep(interval)
        try:
            data = anonymous.post("auth/device/token/", {"device_code": start["device_code"]})
        except ServerError as exc:
            if exc.code == "authorization_pending":
                continue
            if exc.code == "slow_down":
                interval += 5
                continue
            if exc.code == "access_denied":
                raise AuthError("sign-in denied in the browser") from None
            if exc.code in ("expired_token", "invalid_grant"):
                raise AuthError(
                    f"sign-in failed: {exc.message}; run accessctl login --sso again"
                ) from None
            raise
        return _token(url, data)
    raise AuthError("the code expired before it was approved; run accessctl login --sso again")


def _token(url: str, data: object) -> Token:
    if not isinstance(data, dict) or not data.get("token"):
        raise AuthError(f"{url} did not return a token")
    return Token(
        token=str(data["token"]),
        expires_at=str(data.get("expires_at") or ""),
        user=str(data.get("user") or ""),
    )
