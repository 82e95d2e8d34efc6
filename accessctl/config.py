"""Where accessctl keeps the server URL and token, and how the environment overrides them.

The file is `$XDG_CONFIG_HOME/accessportal/config.json` (or `~/.config/...`), created with
mode 0600 in a 0700 directory: it holds a credential. `ACCESSPORTAL_URL` and
`ACCESSPORTAL_TOKEN` take precedence over it, so CI jobs need no file at all.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from accessctl.errors import AuthError, CliError, UsageError

ENV_URL = "ACCESSPORTAL_URL"
ENV_TOKEN = "ACCESSPORTAL_TOKEN"
API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class Settings:
    """The server to talk to and the token to present; `user` is informational only."""

    url: str
    token: str
    user: str = ""
    expires_at: str = ""  # RFC 3339; set for a token from `accessctl login --sso`


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or ""
    # XDG says a relative value is invalid and must be ignored.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "accessportal" / "config.json"


def normalize_url(url: str) -> str:
    """`https://host/` or `https://host/api/v1/` → `https://host`; anything else is refused."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            f"not a server URL: {url!r} (expected http:// or https:// and a host name, "
            "e.g. https://access.example.com)"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"the server URL must not have a query or fragment: {url!r}")
    path = parts.path.rstrip("/")
    if path.endswith(API_PREFIX):
        path = path[: -len(API_PREFIX)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _warn_stderr(text: str) -> None:
    print(f"accessctl: warning: {text}", file=sys.stderr)


def load_file(path: Path, warn: Callable[[str], None] = _warn_stderr) -> dict:
    """The stored settings, or {} when there is no file yet; warns if others may read it."""
    try:
        with path.open(encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(
            f"cannot read {path}: {exc}", hint="fix or delete it, then run `accessctl login`"
        ) from None
    if not isinstance(data, dict):
        raise CliError(f"{path} is not an accessctl configuration (expected a JSON object)")
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn(f"{path} holds a token and is readable by others; run: chmod 600 {path}")
    return data


def save(
    *, url: str, token: str, user: str = "", expires_at: str = "", path: Path | None = None
) -> Path:
    """Write the settings with mode 0600 (dir 0700), atomically: never a half-written file."""
    path = path or config_path()
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(directory, 0o700)
    data = {"url": url}
    if token:  # none after `accessctl logout`: the server is kept for the next login
        data["token"] = token
    if user:
        data["user"] = user
    if expires_at:
        data["expires_at"] = expires_at
    tmp = directory / f".{path.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if os.name == "posix":
                os.fchmod(handle.fileno(), 0o600)  # an old leftover tmp may have had other bits
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def resolve(
    environ: Mapping[str, str] | None = None, warn: Callable[[str], None] = _warn_stderr
) -> Settings:
    """URL and token from the environment, else from the config file; AuthError if missing."""
    environ = os.environ if environ is None else environ
    env_url = environ.get(ENV_URL, "").strip()
    env_token = environ.get(ENV_TOKEN, "").strip()
    stored = {} if env_url and env_token else load_file(config_path(environ), warn)
    url = env_url or str(stored.get("url") or "")
    token = env_token or str(stored.get("token") or "")
    if not url:
        raise AuthError(
            "no server configured",
            hint=f"run `accessctl login --url https://...` or set {ENV_URL} and {ENV_TOKEN}",
        )
    url = normalize_url(url)
    if not token:
        raise AuthError(
            "not logged in", hint=f"run `accessctl login --url {url}` or set {ENV_TOKEN}"
        )
    # A user name or expiry stored with another server's token would be misleading.
    user = str(stored.get("user") or "") if not env_token else ""
    expires_at = str(stored.get("expires_at") or "") if not env_token else ""
    return Settings(url=url, token=token, user=user, expires_at=expires_at)


def stored_url(environ: Mapping[str, str] | None = None) -> str:
    """The server of the last login (or ACCESSPORTAL_URL): what `login` uses without --url."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_URL, "").strip():
        return environ[ENV_URL].strip()
    return str(load_file(config_path(environ)).get("url") or "")


UNREADABLE = {"unreadable": True}  # what `forget` returns for a file it had to delete


def forget(path: Path | None = None) -> dict:
    """Remove the stored token (with its user and expiry) and keep the server URL, so the
    next `accessctl login` needs no --url; returns the settings removed, {} when there was
    no token. A file that cannot be read is deleted (UNREADABLE): it may hold a token, and
    accessctl cannot use it anyway."""
    path = path or config_path()
    try:
        stored = load_file(path, warn=lambda text: None)
    except CliError:
        path.unlink(missing_ok=True)
        return dict(UNREADABLE)
    if not stored.get("token"):
        return {}
    url = str(stored.get("url") or "")
    if url:
        save(url=url, token="", path=path)
    else:
        path.unlink(missing_ok=True)
    return stored
