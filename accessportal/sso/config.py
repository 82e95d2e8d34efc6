"""ACCESSPORTAL_OIDC_PROVIDERS, read once by accessportal/settings.py.

A JSON list of providers, each `{"id", "name", "issuer", "client_id", "secret" |
"secret_env", "scopes"}` (optional: "token_auth_method", "fetch_userinfo"), turned into
allauth's `SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]`. Anything unreadable fails at
start-up with ImproperlyConfigured naming the provider and the key.
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

SETTING = "ACCESSPORTAL_OIDC_PROVIDERS"
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
REQUIRED = {"id", "issuer", "client_id"}
OPTIONAL = {"name", "secret", "secret_env", "scopes", "token_auth_method", "fetch_userinfo"}
DEFAULT_SCOPES = ["openid", "profile", "email"]
AUTH_METHODS = {"client_secret_post", "client_secret_basic"}


def _fail(where: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{SETTING}: {where}: {problem}")


def _secret(entry: dict, where: str) -> str:
    if ("secret" in entry) == ("secret_env" in entry):
        raise _fail(where, 'give exactly one of "secret" and "secret_env"')
    if "secret" in entry:
        secret = entry["secret"]
        if not isinstance(secret, str) or not secret:
            raise _fail(where, '"secret" must be a non-empty string')
        return secret
    name = entry["secret_env"]
    if not isinstance(name, str) or not os.environ.get(name, "").strip():
        raise _fail(where, f'"secret_env" names {name!r}, which is not set')
    return os.environ[name].strip()


def _issuer(value, where: str, *, production: bool) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if not parts or parts.scheme not in {"http", "https"} or not parts.netloc:
        raise _fail(where, f'"issuer" must be an http(s) URL, not {value!r}')
    if production and parts.scheme != "https":
        raise _fail(where, '"issuer" must use https in production mode')
    if parts.query or parts.fragment or "/.well-known/" in parts.path:
        raise _fail(where, '"issuer" is the issuer URL itself (no query, no /.well-known/)')
    return value.rstrip("/")


def _scopes(value, where: str) -> list[str]:
    if value is None:
        return list(DEFAULT_SCOPES)
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise _fail(where, '"scopes" must be a list of strings')
    if "openid" not in value:
        raise _fail(where, '"scopes" must include "openid"')
    return list(dict.fromkeys(value))


def _app(entry, index: int, *, production: bool) -> dict:
    where = f"provider #{index + 1}"
    if not isinstance(entry, dict):
        raise _fail(where, "must be a JSON object")
    where = f"provider {entry.get('id', index + 1)!r}"
    if missing := sorted(REQUIRED - entry.keys()):
        raise _fail(where, f"missing {', '.join(missing)}")
    if unknown := sorted(entry.keys() - REQUIRED - OPTIONAL):
        raise _fail(where, f"unknown key(s) {', '.join(unknown)}")
    if not isinstance(entry["id"], str) or not ID_RE.match(entry["id"]):
        raise _fail(where, '"id" must be 1-50 lowercase letters, digits, _ or - (a URL part)')
    if not isinstance(entry["client_id"], str) or not entry["client_id"]:
        raise _fail(where, '"client_id" must be a non-empty string')
    name = entry.get("name", entry["id"])
    method = entry.get("token_auth_method", "client_secret_post")
    if method not in AUTH_METHODS:
        raise _fail(where, f'"token_auth_method" must be one of {sorted(AUTH_METHODS)}')
    if not isinstance(entry.get("fetch_userinfo", False), bool):
        raise _fail(where, '"fetch_userinfo" must be true or false')
    return {
        "provider_id": entry["id"],  # the URL part, SocialAccount.provider, the sso_mapping name
        "name": str(name),  # the button's label
        "client_id": entry["client_id"],
        "secret": _secret(entry, where),
        "settings": {
            "server_url": _issuer(entry["issuer"], where, production=production),
            "oauth_pkce_enabled": True,
            "token_auth_method": method,
            # Claims come from the verified ID token; userinfo only when a provider puts
            # what the mapping needs there alone.
            "fetch_userinfo": entry.get("fetch_userinfo", False),
            "scope": _scopes(entry.get("scopes"), where),
        },
    }


def oidc_apps(raw: str, *, production: bool) -> list[dict]:
    """allauth's APPS list from the setting's JSON text ("" or "[]": no providers)."""
    if not raw.strip():
        return []
    try:
        entries = json.loads(raw)
    except ValueError as error:
        raise ImproperlyConfigured(f"{SETTING} is not valid JSON: {error}") from None
    if not isinstance(entries, list):
        raise ImproperlyConfigured(f"{SETTING} must be a JSON list of providers")
    apps = [_app(entry, i, production=production) for i, entry in enumerate(entries)]
    ids = [app["provider_id"] for app in apps]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise ImproperlyConfigured(f"{SETTING}: provider id(s) used twice: {', '.join(dupes)}")
    return apps


def form_action_origins(apps: list[dict]) -> list[str]:
    """The providers' origins, for the Content-Security-Policy's form-action: a sign-in
    button posts to this site, which redirects the form to the provider's authorization
    endpoint, and browsers check form-action on that redirect too. (A provider whose
    authorization endpoint is on another host than its issuer needs that host added.)"""
    origins = []
    for app in apps:
        parts = urlsplit(app["settings"]["server_url"])
        origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))
