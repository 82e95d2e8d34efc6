"""`accessctl logout` against a live server: the stored token signs itself out
(`DELETE auth/token/current/`) and is gone from this machine; the output says truthfully
what became of it on the server. A `login --sso` session ends at once; the personal token,
shared by every machine and script that logged in with it, only with `--everywhere`. When
the server cannot sign it out, the token is still removed here and logout says so.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
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


def _expiry(minted) -> str:
    return minted.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def logged_in(run, live_server, requester, cli_env):
    """alice logged in with her personal token, as `accessctl login` stores it."""
    key = Token.objects.create(user=requester).key
    result = run("login", "--url", live_server.url, stdin=key + "\n")
    assert result.code == 0, result.err
    assert json.loads(config.config_path(cli_env).read_text())["token"] == key
    return key


@pytest.fixture
def sso_session(live_server, requester, cli_env):
    """alice logged in with `login --sso`: a session token stored with its expiry."""
    minted = _mint(requester)
    config.save(
        url=live_server.url,
        token=minted.key,
        user="alice",
        expires_at=_expiry(minted),
        path=config.config_path(cli_env),
    )
    return minted


def test_logout_of_an_sso_session_revokes_it_on_the_server(run, live_server, sso_session, cli_env):
    path = config.config_path(cli_env)
    assert run("whoami", "--json").json["user"] == "alice"
    result = run("logout")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        f"Logged out of {live_server.url} as alice: removed the token from {path}.",
        "Signed out: the session token was revoked on the server.",
    ]
    assert json.loads(path.read_text()) == {"url": live_server.url}
    assert run("whoami").code == 5
    # The old token is refused at once, as revoked.
    with pytest.raises(SessionExpired):
        _me(live_server.url, sso_session.key)
    assert ApiToken.objects.get(user__username="alice").revoked_at is not None


def test_logout_of_an_sso_session_as_json(run, live_server, sso_session, cli_env):
    result = run("logout", "--output", "json")
    assert (result.code, result.err) == (0, "")
    assert result.json == {
        "logged_out": True,
        "url": live_server.url,
        "user": "alice",
        "config_file": str(config.config_path(cli_env)),
        "revoked_on_server": True,
        "server": "revoked",
        "everywhere": False,
        "server_message": None,
        "valid_until": None,
        "revoke_at": None,
        "environment_token": False,
    }
    with pytest.raises(SessionExpired):
        _me(live_server.url, sso_session.key)


def test_the_personal_token_stays_valid_without_everywhere(run, live_server, logged_in, cli_env):
    path = config.config_path(cli_env)
    result = run("logout")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        f"Logged out of {live_server.url} as alice: removed the token from {path}.",
        "The personal token stays valid on the server: other machines and scripts that "
        "logged in with it share it. To revoke it everywhere, use `accessctl logout "
        "--everywhere` (log in again first: the token is no longer stored here), or revoke "
        f"it on the portal's API token page, {live_server.url}/tokens/.",
    ]
    assert logged_in not in path.read_text()
    after = run("whoami")
    assert after.code == 5
    assert after.err == (
        f"accessctl: error: not logged in; run `accessctl login --url {live_server.url}` "
        "or set ACCESSPORTAL_TOKEN\n"
    )
    # Other machines and scripts still use it.
    assert _me(live_server.url, logged_in)["user"] == "alice"
    # The next login needs no --url.
    again = run("login", stdin=logged_in + "\n")
    assert again.out.startswith(f"Logged in to {live_server.url} as alice.")


def test_the_personal_token_as_json_says_it_is_still_valid(run, live_server, logged_in, cli_env):
    result = run("logout", "-o", "json")
    assert result.code == 0
    assert result.json["revoked_on_server"] is False
    assert result.json["server"] == "still_valid"
    assert "everywhere=true" in result.json["server_message"]
    assert result.json["revoke_at"] == f"{live_server.url}/tokens/"
    assert result.json["valid_until"] is None
    assert _me(live_server.url, logged_in)["user"] == "alice"


@pytest.mark.parametrize("output", [[], ["--output", "json"]], ids=["text", "json"])
def test_logout_everywhere_revokes_the_personal_token(
    run, live_server, logged_in, requester, output
):
    result = run("logout", "--everywhere", *output)
    assert (result.code, result.err) == (0, "")
    if output:
        assert result.json["revoked_on_server"] is True
        assert result.json["server"] == "revoked"
        assert result.json["everywhere"] is True
        assert result.json["revoke_at"] is None
    else:
        assert result.out.splitlines()[1] == (
            "Signed out everywhere: the personal token was revoked on the server; every "
            "machine and script that used it must log in again."
        )
    with pytest.raises(AuthError, match="the server refused the credentials: Invalid token"):
        _me(live_server.url, logged_in)
    assert not Token.objects.filter(user=requester).exists()


def test_a_token_already_invalid_on_the_server_is_still_forgotten(
    run, live_server, logged_in, requester, cli_env
):
    Token.objects.filter(user=requester).delete()  # revoked on the portal meanwhile
    result = run("logout", "--everywhere")
    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[1] == (
        "The token was already invalid on the server (revoked or expired)."
    )
    assert logged_in not in config.config_path(cli_env).read_text()
    as_json = run("logout", "-o", "json")
    assert as_json.json["logged_out"] is False and as_json.json["server"] is None


def test_an_expired_session_is_forgotten_without_asking_the_server(
    run, closed_port, requester, cli_env
):
    minted = _mint(requester)
    path = config.config_path(cli_env)
    ended = (timezone.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"http://127.0.0.1:{closed_port}"
    config.save(url=url, token=minted.key, user="alice", expires_at=ended, path=path)
    result = run("logout", "-o", "json")
    assert (result.code, result.err) == (0, "")  # nothing to reach: no warning
    assert result.json["server"] == "expired"
    assert result.json["revoked_on_server"] is False
    assert minted.key not in path.read_text()


@pytest.mark.parametrize("session", [False, True], ids=["personal", "sso"])
def test_server_down_still_removes_the_token_and_warns(
    run, closed_port, requester, cli_env, session
):
    path = config.config_path(cli_env)
    url = f"http://127.0.0.1:{closed_port}"
    key = _mint(requester).key if session else Token.objects.create(user=requester).key
    expires = (timezone.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config.save(url=url, token=key, user="alice", expires_at=expires if session else "", path=path)
    result = run("logout", "--everywhere")
    assert result.code == 0
    assert result.out == f"Logged out of {url} as alice: removed the token from {path}.\n"
    assert result.err.startswith(
        f"accessctl: warning: could not sign the token out on the server (cannot connect to "
        f"{url}: connection refused"
    )
    assert f"the token may still be valid on the server until you revoke it at {url}/tokens/" in (
        result.err.lower()
    )
    assert ("or until it expires at" in result.err) is session
    assert json.loads(path.read_text()) == {"url": url}
    assert run("whoami").code == 5


def test_server_down_as_json(run, closed_port, requester, cli_env):
    path = config.config_path(cli_env)
    url = f"http://127.0.0.1:{closed_port}"
    minted = _mint(requester)
    config.save(url=url, token=minted.key, user="alice", expires_at=_expiry(minted), path=path)
    result = run("logout", "--json")
    assert result.code == 0
    assert "could not sign the token out" in result.err
    assert result.json["revoked_on_server"] is False
    assert result.json["server"] == "unreachable"
    assert result.json["server_message"].startswith(f"cannot connect to {url}")
    assert result.json["valid_until"] == _expiry(minted)
    assert result.json["revoke_at"] == f"{url}/tokens/"
    assert "token" not in json.loads(path.read_text())


@pytest.mark.parametrize("output", [[], ["--output", "json"]], ids=["text", "json"])
def test_a_server_that_fails_to_sign_out_exits_1_and_the_token_is_still_removed(
    run, fake_server, cli_env, output
):
    fake_server.route("DELETE", "/api/v1/auth/token/current/", 503, {"detail": "maintenance"})
    path = config.config_path(cli_env)
    config.save(url=fake_server.url, token="abc", user="alice", path=path)
    result = run("logout", "--everywhere", *output, sleep=lambda seconds: None)
    assert result.code == 1
    # A 503 may be a proxy's lost answer: a DELETE is sent once more, no more.
    assert [c["method"] for c in fake_server.calls] == ["DELETE", "DELETE"]
    assert fake_server.calls[0]["path"] == "/api/v1/auth/token/current/?everywhere=true"
    assert fake_server.calls[0]["headers"]["Authorization"] == "Token abc"
    assert json.loads(path.read_text()) == {"url": fake_server.url}
    if output:
        assert result.json["server"] == "failed"
        assert result.json["server_message"] == "maintenance"
        assert result.json["revoked_on_server"] is False
    else:
        assert result.err == (
            "accessctl: error: the server did not sign the token out (maintenance). The "
            f"token may still be valid on the server until you revoke it at "
            f"{fake_server.url}/tokens/.\n"
        )


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


def test_a_token_in_the_environment_is_not_revoked(run, alice, cli_env):
    result = run("logout", "--everywhere", env=alice)
    assert result.code == 0
    assert result.err == (
        "accessctl: warning: ACCESSPORTAL_TOKEN is set in your environment: accessctl still "
        "uses it until you unset it (logout does not revoke a token it did not store)\n"
    )
    assert "Not logged in: no token stored" in result.out
    assert _me(alice["ACCESSPORTAL_URL"], alice["ACCESSPORTAL_TOKEN"])["user"] == "alice"


def test_an_unreadable_config_file_is_deleted(run, cli_env):
    path = config.config_path(cli_env)
    path.parent.mkdir(parents=True)
    path.write_text('{"url": "http://x", "token": "abc"')  # cut short
    result = run("logout")
    assert result.code == 0
    assert not path.exists()
    assert f"{path} could not be read, so it was deleted." in result.out
