"""ACCESSPORTAL_OIDC_PROVIDERS: read once at start-up; anything wrong stops the start with
a message naming the provider and the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from accessportal.sso.config import form_action_origins, oidc_apps

OKTA = {
    "id": "okta",
    "name": "Okta",
    "issuer": "https://example.okta.com/",
    "client_id": "0oa1",
    "secret": "s3cret",
}


def apps(*entries, production=False):
    return oidc_apps(json.dumps(list(entries)), production=production)


def test_a_provider_becomes_an_allauth_app_with_pkce_and_its_scopes():
    (app,) = apps({**OKTA, "scopes": ["openid", "email", "groups"]})
    assert app["provider_id"] == "okta" and app["name"] == "Okta"
    assert (app["client_id"], app["secret"]) == ("0oa1", "s3cret")
    assert app["settings"] == {
        "server_url": "https://example.okta.com",
        "oauth_pkce_enabled": True,
        "token_auth_method": "client_secret_post",
        "fetch_userinfo": False,
        "scope": ["openid", "email", "groups"],
    }
    assert form_action_origins([app]) == ["https://example.okta.com"]


def test_the_secret_may_come_from_another_variable(monkeypatch):
    monkeypatch.setenv("OKTA_SECRET", "from-env")
    entry = {k: v for k, v in OKTA.items() if k != "secret"} | {"secret_env": "OKTA_SECRET"}
    assert apps(entry)[0]["secret"] == "from-env"


def test_unset_or_empty_means_no_providers():
    assert oidc_apps("", production=True) == [] and oidc_apps("[]", production=True) == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("[{", "is not valid JSON"),
        ('{"id": "okta"}', "must be a JSON list"),
        ("[1]", "provider #1: must be a JSON object"),
        (json.dumps([{"id": "okta"}]), "provider 'okta': missing client_id, issuer"),
        (json.dumps([{**OKTA, "colour": "red"}]), "unknown key(s) colour"),
        (json.dumps([{**OKTA, "id": "Okta Prod"}]), '"id" must be 1-50 lowercase'),
        (json.dumps([{**OKTA, "issuer": "example.okta.com"}]), '"issuer" must be an http(s) URL'),
        (json.dumps([{**OKTA, "secret_env": "X"}]), 'exactly one of "secret" and "secret_env"'),
        (
            json.dumps(
                [{k: v for k, v in OKTA.items() if k != "secret"} | {"secret_env": "NOPE_"}]
            ),
            "names 'NOPE_', which is not set",
        ),
        (json.dumps([{**OKTA, "scopes": ["email"]}]), 'must include "openid"'),
        (json.dumps([{**OKTA, "token_auth_method": "none"}]), '"token_auth_method" must be'),
        (json.dumps([OKTA, OKTA]), "provider id(s) used twice: okta"),
    ],
)
def test_bad_configuration_is_refused_with_a_clear_message(raw, message):
    with pytest.raises(ImproperlyConfigured) as error:
        oidc_apps(raw, production=False)
    assert message in str(error.value)
    assert str(error.value).startswith("ACCESSPORTAL_OIDC_PROVIDERS")


def test_production_wants_https_issuers():
    with pytest.raises(ImproperlyConfigured, match="must use https in production"):
        apps({**OKTA, "issuer": "http://idp.internal"}, production=True)


def test_the_service_refuses_to_start_with_a_bad_setting():
    env = {**os.environ, "ACCESSPORTAL_OIDC_PROVIDERS": '[{"id": "okta"}]'}
    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr == (
        "accessportal: configuration error: ACCESSPORTAL_OIDC_PROVIDERS: provider 'okta': "
        "missing client_id, issuer\n"
    )
