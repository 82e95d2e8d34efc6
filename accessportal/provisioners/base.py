"""The provisioner protocol, its errors, and the registry of installed provisioners.

Contract every provisioner keeps (the engine relies on it):
- `grant` and `revoke` are idempotent: granting a member twice, or revoking someone who is
  not a member, succeeds and changes nothing.
- Every call is bounded in time (a target that hangs answers ProvisionError within
  DEFAULT_TIMEOUT seconds, or the target's own `timeout`), and raises ProvisionError for
  anything the target refuses or cannot do; any other exception is treated as a bug and
  recorded like a retryable failure.
- Secrets never travel in the target settings themselves: a setting that names a secret
  ends in `_env` and holds the name of an environment variable, which must start with
  PROVISION_ or be listed in ACCESSPORTAL_PROVISION_SECRET_NAMES
  (`dsn_env: PROVISION_BILLING_DB_DSN`; common.secret_name_problem).
  Error messages must not contain secret values; the engine also passes every message
  through `redact` before it is stored, audited, logged or shown.
- A target is a JSON mapping from the policy file; `check` validates it without touching
  the network (run at every policy load), `probe` checks the target can be reached (run
  by `apply_policies --dry-run` and the admin). An optional `identity(target)` returns the
  settings that name the real thing (see `target_identity`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

ENTRY_POINT_GROUP = "accessportal.provisioners"
DEFAULT_TIMEOUT = 10.0  # seconds per call to a target, unless the target sets `timeout`
SECRET_SUFFIX = "_env"

Target = Mapping[str, Any]


class ProvisionError(Exception):
    """The target refused the change or could not be reached.

    `retry` False marks a failure that trying again cannot fix (the login does not exist,
    the group is not a group): the engine still retries, at the longest backoff, because
    someone may fix the target, but says so in the error it shows.
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class Principal:
    """The person a grant is for, as a provisioner may see them."""

    username: str
    email: str = ""
    traits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@runtime_checkable
class Provisioner(Protocol):
    """What a provisioner implements; instances are created once per process, no arguments."""

    def check(self, target: Target) -> list[str]:
        """Problems with the target's settings, without touching the network ([] when fine).

        Each problem is one sentence naming the setting ("role is required").
        """

    def describe(self, target: Target) -> str:
        """A short readable name of the target without secrets ("role billing_admin")."""

    def account(self, user: Principal, target: Target) -> str:
        """The name of `user`'s account in the target (a login, a DN); "" when they have none.

        Must be the same string `members` returns for that account (compare as returned).
        """

    def grant(self, account: str, target: Target) -> None:
        """Make `account` a member of the target; idempotent."""

    def revoke(self, account: str, target: Target) -> None:
        """Take `account` out of the target; idempotent. Ends its sessions where supported
        and the target asks for it."""

    def members(self, target: Target) -> set[str]:
        """The accounts that are members of the target now (for reconciliation)."""

    def probe(self, target: Target) -> None:
        """Raise ProvisionError when the target cannot be reached or used."""


def target_identity(provisioner: object, target: Target) -> Target:
    """The settings that name the real thing a target is (a server and a role, a directory
    and a group), by the provisioner's optional `identity(target)`; the whole mapping when
    it has none. Two policy entries with the same identity are one target: changing any
    other setting (a timeout, `terminate_sessions`) updates it in place and keeps its
    members, instead of retiring it and starting a new one."""
    identity = getattr(provisioner, "identity", None)
    return dict(identity(target)) if callable(identity) else dict(target)


_lock = threading.Lock()
_instances: dict[str, Provisioner] = {}


def _registered() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def provisioner_names() -> list[str]:
    """The names of every installed provisioner, sorted."""
    return sorted(_registered())


def provisioner_get(name: str) -> Provisioner:
    """The provisioner registered as `name` (one instance per process).

    Raises LookupError naming the installed ones when there is none by that name.
    """
    with _lock:
        if name in _instances:
            return _instances[name]
        found = _registered().get(name)
        if found is None:
            installed = ", ".join(provisioner_names()) or "none"
            raise LookupError(
                f"no provisioner named {name!r} is installed (installed: {installed})"
            )
        instance = found.load()()
        _instances[name] = instance
        return instance


def provisioner_cache_clear() -> None:
    """Forget loaded instances (tests that install a provisioner at run time)."""
    with _lock:
        _instances.clear()


def target_timeout(target: Target) -> float:
    """Seconds a call to this target may take: its `timeout` setting, or DEFAULT_TIMEOUT."""
    value = target.get("timeout", DEFAULT_TIMEOUT)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return DEFAULT_TIMEOUT
    return seconds if 0 < seconds <= 300 else DEFAULT_TIMEOUT


def secret_env(target: Target, key: str) -> str:
    """The value of the environment variable the setting `key` names; ProvisionError
    (not retryable) when the setting or the variable is missing, or names no provisioning
    secret (common.secret_name_problem: PROVISION_... or listed in
    ACCESSPORTAL_PROVISION_SECRET_NAMES, never one of the portal's own settings). Never put
    the value in an error."""
    from accessportal.provisioners.common import secret_name_problem  # common imports base

    name = target.get(key)
    if not isinstance(name, str) or not name:
        raise ProvisionError(f"{key} is not set", retry=False)
    if problem := secret_name_problem(key, name):
        raise ProvisionError(problem, retry=False)
    value = os.environ.get(name)
    if not value:
        raise ProvisionError(f"the environment variable {name} ({key}) is not set", retry=False)
    return value


def secret_values(target: Target) -> list[str]:
    """The values of every environment variable a `*_env` setting of the target names."""
    values = []
    for key, name in target.items():
        if key.endswith(SECRET_SUFFIX) and isinstance(name, str) and os.environ.get(name):
            values.append(os.environ[name])
    return values


def redact(text: str, target: Target) -> str:
    """`text` with every secret of the target (and URL passwords) replaced by `***`."""
    import re

    for value in sorted(secret_values(target), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    # user:password@host in URLs and DSNs, and password=... in libpq strings
    text = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.IGNORECASE)
