"""`accessctl logout` against a live server: the stored token is gone from this machine, the
next command says to log in, and the output says truthfully what became of the token on the
server. The API has no call for a token to revoke itself (/work/wt/briefs/findings.md asks
for one), so it stays valid until revoked where logout says: the portal's API token page.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.authtoken.models import Token

from accessctl import config
from accessctl.client import ApiClient
from accessctl.errors import AuthError, SessionExpired
from requests_app.models import ApiToken
from requests_app.services.tokens import api_token_mint

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]


def _mint(user):
    """A session token as `accessctl login --sso` gets one (services.tokens.api_token_mint)."""
    with transaction.atomic():
        return api_token_mint(user=user, via="cli:loopback")


def _me(url: str, token: str) -> object:
    return ApiClient(url, token).get("me/")


@pytest.fixture
def logged_in(run, live_server, requester, cli_env):
    """alice logged in with her personal token, as `accessctl login` stores it."""
    key = Token.objects.create(user=requester).key
    result = run("login", "--url", live_server.url, stdin=key + "\n")
    assert result.code == 0, result.err
    assert json.loads(config.config_path(cli_env).read_text())["token"] == key
    return key


def test_logout_forgets_the_token_and_says_where_to_revoke_it(
    run, live_server, logged_in, cli_env, requester
):
    path = config.config_path(cli_env)
    result = run("logout")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        f"Logged out of {live_server.url} as alice: removed the token from {path}.",
        "The token stays valid on the server until you revoke it on the portal's API token "
        f"page, {live_server.url}/tokens/ (that ends it on every machine and script using it).",
    ]
    # Gone from the file; the server stays for the next login.
    assert json.loads(path.read_text()) == {"url": live_server.url}
    assert logged_in not in path.read_text()
    after = run("whoami")
    assert after.code == 5
    assert after.err == (
        f"accessctl: error: not logged in; run `accessctl login --url {live_server.url}` "
        "or set ACCESSPORTAL_TOKEN\n"
    )
    # As the message says: the server still takes it until it is revoked on that page...
    assert _me(live_server.url, logged_in)["user"] == "alice"
    portal = Client()
    portal.force_login(requester)
    assert portal.post("/tokens/revoke/").status_code == 302
    # ...and then refuses it.
    with pytest.raises(AuthError, match="the server refused the credentials: Invalid token"):
        _me(live_server.url, logged_in)
    # The next login needs no --url.
    fresh = Token.objects.create(user=requester).key
    again = run("login", stdin=fresh + "\n")
    assert again.out.startswith(f"Logged in to {live_server.url} as alice.")


def test_logout_of_an_sso_session_says_until_when_it_stays_valid(
    run, live_server, requester, cli_env
):
    minted = _mint(requester)
    expires = minted.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = config.config_path(cli_env)
    config.save(url=live_server.url, token=minted.key, user="alice", expires_at=expires, path=path)
    assert run("whoami", "--json").json["user"] == "alice"

    result = run("logout", "--output", "json")
    assert (result.code, result.err) == (0, "")
    assert result.json == {
        "logged_out": True,
        "url": live_server.url,
        "user": "alice",
        "config_file": str(path),
        "revoked_on_server": False,
        "valid_until": expires,
        "revoke_at": f"{live_server.url}/tokens/",
        "environment_token": False,
    }
    assert minted.key not in path.read_text()
    assert run("whoami").code == 5
    # Valid until signed out on the portal page, then refused as revoked.
    assert _me(live_server.url, minted.key)["user"] == "alice"
    portal = Client()
    portal.force_login(requester)
    session = ApiToken.objects.get(user=requester)
    assert portal.post(f"/tokens/sessions/{session.pk}/revoke/").status_code == 302
    with pytest.raises(SessionExpired):
        _me(live_server.url, minted.key)


def test_logout_text_names_the_end_of_an_sso_session(run, live_server, requester, cli_env):
    minted = _mint(requester)
    expires = minted.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    config.save(
        url=live_server.url,
        token=minted.key,
        user="alice",
        expires_at=expires,
        path=config.config_path(cli_env),
    )
    result = run("logout")
    assert result.code == 0
    assert result.out.splitlines()[1].startswith("The session stays valid on the server until ")
    assert f"sign it out on the portal's API token page, {live_server.url}/tokens/" in result.out


@pytest.mark.parametrize("output", [[], ["--output", "json"]], ids=["text", "json"])
def test_logging_out_twice_succeeds_and_says_there_was_nothing_to_do(
    run, logged_in, cli_env, output
):
    assert run("logout").code == 0
    result = run("logout", *output)
    assert (result.code, result.err) == (0, "")
    path = config.config_path(cli_env)
    if output:
        assert result.json["logged_out"] is False and result.json["url"] is None
    else:
        assert result.out == f"Not logged in: no token stored in {path}. Nothing to do.\n"


def test_a_token_in_the_environment_is_left_to_the_person_to_unset(run, alice, cli_env):
    result = run("logout", env=alice)
    assert result.code == 0
    assert result.err == (
        "accessctl: warning: ACCESSPORTAL_TOKEN is set in your environment: accessctl still "
        "uses it until you unset it\n"
    )
    assert "Not logged in: no token stored" in result.out


def test_an_unreadable_config_file_is_deleted(run, cli_env):
    path = config.config_path(cli_env)
    path.parent.mkdir(parents=True)
    path.write_text('{"url": "http://x", "token": "abc"')  # cut short
    result = run("logout")
    assert result.code == 0
    assert not path.exists()
    assert f"{path} could not be read, so it was deleted." in result.out
