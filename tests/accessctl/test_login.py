"""`accessctl login` checks the token with the server before it stores anything."""

from __future__ import annotations

import json
import os
import stat

from accessctl import config


def test_login_with_a_pasted_token_stores_it_privately(run, fake_server, cli_env):
    fake_server.route("GET", "/api/v1/me/", 200, {"user": "alice", "roles": ["engineer"]})
    result = run("login", "--url", fake_server.url + "/api/v1/", stdin="tok-123\n")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"Logged in to {fake_server.url} as alice."
    path = config.config_path(cli_env)
    assert json.loads(path.read_text()) == {
        "url": fake_server.url,
        "token": "tok-123",
        "user": "alice",
    }
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert fake_server.calls[0]["headers"]["Authorization"] == "Token tok-123"


def test_login_with_a_user_name_obtains_a_token(run, fake_server, cli_env):
    fake_server.route("POST", "/api/v1/auth/token/", 200, {"token": "fresh"})
    fake_server.route("GET", "/api/v1/me/", 200, {"user": "alice"})
    result = run("login", "--url", fake_server.url, "--user", "alice", stdin="s3cret\n")
    assert result.code == 0, result.err
    post = fake_server.calls[0]
    assert post["body"] == {"username": "alice", "password": "s3cret"}
    assert "Authorization" not in post["headers"]
    assert json.loads(config.config_path(cli_env).read_text())["token"] == "fresh"
    assert "s3cret" not in config.config_path(cli_env).read_text()


def test_a_wrong_password_stores_nothing_and_exits_5(run, fake_server, cli_env):
    fake_server.route(
        "POST",
        "/api/v1/auth/token/",
        400,
        {"non_field_errors": ["Unable to log in with provided credentials."]},
    )
    result = run("login", "--url", fake_server.url, "--user", "alice", stdin="wrong\n")
    assert result.code == 5
    assert result.err == (
        "accessctl: error: login refused: Unable to log in with provided credentials\n"
    )
    assert not config.config_path(cli_env).exists()


def test_a_token_the_server_refuses_is_not_stored(run, fake_server, cli_env):
    fake_server.route("GET", "/api/v1/me/", 401, {"detail": "Invalid token."})
    result = run("login", "--url", fake_server.url, stdin="bad\n")
    assert result.code == 5
    assert "the server refused the credentials: Invalid token" in result.err
    assert not config.config_path(cli_env).exists()


def test_an_empty_token_is_a_usage_error(run, fake_server):
    result = run("login", "--url", fake_server.url, stdin="\n")
    assert (result.code, result.err) == (2, "accessctl: error: no token given\n")
    assert fake_server.calls == []


def test_login_to_a_web_page_is_refused_as_the_wrong_url(run, fake_server, cli_env):
    fake_server.route("GET", "/api/v1/me/", 200, "<html>Hi</html>", content_type="text/html")
    result = run("login", "--url", fake_server.url, stdin="tok\n")
    assert result.code == 4
    assert "is not an Access Portal API" in result.err
    assert not config.config_path(cli_env).exists()


def test_plain_http_to_another_host_warns_about_the_token(run, closed_port):
    result = run("login", "--url", "http://access.invalid", stdin="tok\n")
    assert "http://access.invalid is not https; your token will cross the network" in result.err
    assert result.code == 4  # and then fails to connect; the warning came first
