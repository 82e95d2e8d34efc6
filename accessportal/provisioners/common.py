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

# A provisioner's `*_env` setting may name only a provisioning secret: a variable whose
# name starts with PROVISION_ENV_PREFIX, or one the operator lists in SECRET_NAMES_SETTING
# (comma-separated). Anything else (an SSO client secret, PGPASSWORD, a cloud key) could be
# sent by a policy file to a server of its choosing (re-review 16).
PROVISION_ENV_PREFIX = "PROVISION_"
SECRET_NAMES_SETTING = "ACCESSPORTAL_PROVISION_SECRET_NAMES"

# Environment variables of the portal itself (its keys, its database, its broker), refused
# even when allowed above (PROVISION_RETRY_BACKOFF is a setting of the portal). Besides
# these, every name accessportal/settings.py reads through accessportal/envconfig.py.
PORTAL_ENV_NAMES = frozenset(
    {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "EMAIL_HOST_PASSWORD", "CACHE_URL"}
)
PORTAL_ENV_PREFIXES = ("DJANGO_", "CELERY_", "ACCESSPORTAL_", "AUDIT_ANCHOR_", "CREDENTIAL_")


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


def listed_secret_names() -> frozenset[str]:
    """The names the operator allows besides PROVISION_*: the setting
    ACCESSPORTAL_PROVISION_SECRET_NAMES (settings.py reads it from the environment)."""
    from django.conf import settings

    if settings.configured:
        names = getattr(settings, SECRET_NAMES_SETTING, None)
        if names is not None:
            return frozenset(names)
    return frozenset(envconfig.env_list(SECRET_NAMES_SETTING))


def portal_env_name(name: str) -> bool:
    """Whether `name` is one of the portal's own settings (PORTAL_ENV_NAMES, the prefixes,
    anything settings.py reads), which a provisioner's `*_env` setting may never name."""
    return (
        name in PORTAL_ENV_NAMES
        or name.startswith(PORTAL_ENV_PREFIXES)
        or name in envconfig.names_read()
    )


def secret_name_problem(key: str, name: object) -> str | None:
    """What is wrong with `name` as the variable a `*_env` setting `key` reads: not a
    provisioning secret (PROVISION_... or listed), or one of the portal's own settings.
    Checked by check() and again by base.secret_env at every call."""
    if not isinstance(name, str):
        return None
    if not name.startswith(PROVISION_ENV_PREFIX) and name not in listed_secret_names():
        return (
            f"{key}: {name} is not a provisioning secret: name it {PROVISION_ENV_PREFIX}... "
            f"or list it in {SECRET_NAMES_SETTING}"
        )
    if portal_env_name(name):
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
    return secret_name_problem(key, value)


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
