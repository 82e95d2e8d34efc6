"""What every command gets: its streams, environment, styles and a lazily built API client."""

from __future__ import annotations

import argparse
import json
import time
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from accessctl import config, output
from accessctl.client import ApiClient
from accessctl.commands import flags
from accessctl.errors import ServerError, SessionExpired

DEFAULT_POLL_INTERVAL = 2.0
HELP_FORMAT = argparse.RawDescriptionHelpFormatter


@dataclass
class Context:
    stdout: TextIO
    stderr: TextIO
    stdin: TextIO
    environ: Mapping[str, str]
    json: bool = False
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic  # seconds, for how long --wait has waited
    # Opens a URL in the person's browser; False when there is none (tests hand it over).
    open_browser: Callable[[str], bool] = webbrowser.open
    _client: ApiClient | None = field(default=None, repr=False)
    _settings: config.Settings | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.style = output.Style(output.colour_enabled(self.stdout, self.environ))

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.resolve(self.environ, self.warn)
        return self._settings

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            settings = self.settings
            expires = output.parse_time(settings.expires_at)
            if expires is not None and expires <= output.now_utc():
                raise SessionExpired()
            self._client = ApiClient(settings.url, settings.token, timeout=self.timeout)
        return self._client

    @property
    def timeout(self) -> float:
        return _env_float(self.environ, "ACCESSPORTAL_TIMEOUT", 30.0)

    @property
    def poll_interval(self) -> float:
        return _env_float(self.environ, "ACCESSPORTAL_POLL_INTERVAL", DEFAULT_POLL_INTERVAL)

    @property
    def interactive(self) -> bool:
        """Whether a person watches stderr (spinner) — never when it is a pipe or file."""
        isatty = getattr(self.stderr, "isatty", None)
        return bool(isatty and isatty()) and self.environ.get("TERM") != "dumb"

    def warn(self, text: str) -> None:
        print(f"accessctl: warning: {text}", file=self.stderr)

    def print(self, text: str = "") -> None:
        print(text, file=self.stdout)

    def note(self, text: str) -> None:
        """Progress and side remarks: stdout for people, stderr when stdout carries JSON."""
        print(text, file=self.stderr if self.json else self.stdout)

    def dump(self, data: Any) -> None:
        """The API's JSON, as is, for scripts."""
        json.dump(data, self.stdout, indent=2, ensure_ascii=False)
        self.stdout.write("\n")


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(environ.get(name, "") or default)
    except ValueError:
        return default
    return value if value > 0 else default


def not_found_as(exc: ServerError, what: str) -> ServerError:
    """A 404 said about the thing the user named, not about a URL."""
    if exc.status == 404:
        return ServerError(f"{what} not found (or you may not see it)", status=404)
    return exc


def post_on_request(
    ctx: Context, rid: str, action: str, body: dict, names: Mapping[str, str]
) -> Any:
    """POST `body` to the request's `action` (reviews, withdraw, extend, ratify, revoke):
    refusals name the flags typed (`names`, as flags.named_flags takes them), and a 404 says
    the request was not found rather than naming a URL."""
    try:
        with flags.named_flags(names):
            return ctx.client.post(f"requests/{rid}/{action}/", body)
    except ServerError as exc:
        raise not_found_as(exc, f"request {rid}") from None
