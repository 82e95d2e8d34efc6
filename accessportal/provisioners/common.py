"""Settings the built-in provisioners share: the account-name template, secret variable
names, `timeout`, and the checks `check()` runs on them (no network)."""

from __future__ import annotations

import string
from collections.abc import Iterable

from accessportal import envconfig
from accessportal.kernel.outbound import ENV_NAME_RE
from accessportal.provisioners.base import Principal, Target

ACCOUNT_PLACEHOLDERS = ("username", "email_local")
MAX_TIMEOUT = 300

# Environment variables of the portal itself (its keys, its database, its broker): a policy
# file may not point a provisioner's `*_env` setting at them, or a target could send the
# portal's own secrets to any server (findings of review 16). Besides these, every name
# accessportal/settings.py reads through accessportal/envconfig.py is refused.
PORTAL_ENV_NAMES = frozenset(
    {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_HOST_PASSWORD", "CACHE_URL"}
)
PORTAL_ENV_PREFIXES = ("DJANGO_", "CELERY_", "ACCESSPORTAL_", "AUDIT_ANCHOR_", "CREDENTIAL_")
PROVISION_ENV_PREFIX = "ACCESSPORTAL_PROVISION_"  # free for provisioners' own secrets


def template_problem(template: object, setting: str) -> str | None:
    """What is wrong with an account template such as "{username}" or "u_{email_local}"."""
    if not isinstance(template, str) or not template.strip():
        return f"{setting} must be a non-empty string such as " + '"{username}"'
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template)]
    except ValueError as err:
        return f"{setting} is not a valid template ({err}); write braces as {{{{ and }}}}"
    fields = [f for f, _, _ in parsed if f is not None]
    known = ", ".join("{" + p + "}" for p in ACCOUNT_PLACEHOLDERS)
    for name in fields:
        if name not in ACCOUNT_PLACEHOLDERS:
            return f"{setting} uses {{{name}}}, which is not a placeholder (placeholders: {known})"
    if any(spec or conv for f, spec, conv in parsed if f is not None):
        return f"{setting} placeholders take no format spec or conversion (placeholders: {known})"
    if not fields:
        return f"{setting} names no placeholder, so every user would share one account ({known})"
    return None


def account_name(user: Principal, template: str) -> str:
    """`template` filled in for `user`; "" when a placeholder has no value (no email)."""
    values = {"username": user.username, "email_local": user.email.partition("@")[0]}
    needed = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if any(not values.get(name) for name in needed):
        return ""
    return template.format(**values)


def portal_env_name(name: str) -> bool:
    """Whether `name` is one of the portal's own settings (PORTAL_ENV_NAMES, the prefixes,
    anything settings.py reads), which a provisioner's `*_env` setting may not name."""
    if name.startswith(PROVISION_ENV_PREFIX):
        return False
    return (
        name in PORTAL_ENV_NAMES
        or name.startswith(PORTAL_ENV_PREFIXES)
        or name in envconfig.names_read()
    )


def portal_env_problem(key: str, name: object) -> str | None:
    if isinstance(name, str) and portal_env_name(name):
        return (
            f"{key} names the portal's own setting {name}; use a variable of its own "
            f"(such as {PROVISION_ENV_PREFIX}...)"
        )
    return None


def env_problem(target: Target, key: str, what: str) -> str | None:
    value = target.get(key)
    if value is None or value == "":
        return f"{key} is required: the name of the environment variable holding {what}"
    if not isinstance(value, str) or not ENV_NAME_RE.match(value):
        return (
            f"{key} must name an environment variable (A-Z, 0-9, _) holding {what}; "
            "secrets never go into policy files"
        )
    return portal_env_problem(key, value)


def unmanaged_problem(target: Target, what: str = "account names") -> str | None:
    """`unmanaged_members`, when set, must be a list of non-empty strings."""
    value = target.get("unmanaged_members", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        return f"unmanaged_members must be a list of {what}"
    return None


def unmanaged_members(target: Target) -> set[str]:
    """The accounts the portal leaves alone in this target and never reports as members
    (placeholders, service accounts, the provisioner's own admin)."""
    value = target.get("unmanaged_members", [])
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def timeout_problem(target: Target) -> str | None:
    if "timeout" not in target:
        return None
    value = target["timeout"]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        return f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT}"
    return None


def unknown_problems(target: Target, known: Iterable[str], provisioner: str) -> list[str]:
    known = sorted(known)
    return [
        f"{key} is not a setting of the {provisioner} provisioner (settings: {', '.join(known)})"
        for key in sorted(set(target) - set(known))
    ]
