"""The config file holds a credential: it is private, and the environment overrides it."""

from __future__ import annotations

import json
import os
import stat

import pytest

from accessctl import config
from accessctl.errors import AuthError, UsageError


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_config_path_follows_xdg_config_home(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert config.config_path(env) == tmp_path / "xdg" / "accessportal" / "config.json"


def test_config_path_defaults_to_dot_config_and_ignores_relative_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".config" / "accessportal" / "config.json"
    assert config.config_path({}) == expected
    assert config.config_path({"XDG_CONFIG_HOME": "relative/dir"}) == expected


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saved_config_is_readable_only_by_its_owner(tmp_path):
    path = tmp_path / "cfg" / "accessportal" / "config.json"
    os.umask(0o022)  # a usual umask that would otherwise leave the file world-readable
    config.save(url="https://ap.example.com", token="secret-token", user="alice", path=path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    assert json.loads(path.read_text()) == {
        "url": "https://ap.example.com",
        "token": "secret-token",
        "user": "alice",
    }
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saving_over_a_world_readable_file_makes_it_private(tmp_path):
    path = tmp_path / "accessportal" / "config.json"
    path.parent.mkdir(mode=0o755)
    path.write_text("{}")
    path.chmod(0o644)
    config.save(url="https://ap.example.com", token="t", path=path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_resolve_reads_the_file(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    config.save(
        url="https://ap.example.com", token="file-token", user="alice", path=config.config_path(env)
    )
    settings = config.resolve(env)
    assert (settings.url, settings.token, settings.user) == (
        "https://ap.example.com",
        "file-token",
        "alice",
    )


def test_environment_overrides_the_file(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    config.save(url="https://file.example.com", token="file-token", path=config.config_path(env))
    only_token = config.resolve({**env, "ACCESSPORTAL_TOKEN": "env-token"})
    assert (only_token.url, only_token.token) == ("https://file.example.com", "env-token")
    only_url = config.resolve({**env, "ACCESSPORTAL_URL": "https://env.example.com/"})
    assert (only_url.url, only_url.token) == ("https://env.example.com", "file-token")


def test_environment_alone_needs_no_file(tmp_path):
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "missing"),
        "ACCESSPORTAL_URL": "https://env.example.com/api/v1/",
        "ACCESSPORTAL_TOKEN": "env-token",
    }
    settings = config.resolve(env)
    assert (settings.url, settings.token) == ("https://env.example.com", "env-token")
    assert not (tmp_path / "missing").exists()


def test_missing_url_or_token_says_how_to_log_in(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(AuthError, match="no server configured") as exc:
        config.resolve(env)
    assert "accessctl login" in exc.value.hint
    with pytest.raises(AuthError, match="not logged in"):
        config.resolve({**env, "ACCESSPORTAL_URL": "https://ap.example.com"})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://ap.example.com", "https://ap.example.com"),
        ("https://ap.example.com/", "https://ap.example.com"),
        ("https://ap.example.com/api/v1/", "https://ap.example.com"),
        ("http://127.0.0.1:8000/portal/", "http://127.0.0.1:8000/portal"),
        ("  https://ap.example.com  ", "https://ap.example.com"),
    ],
)
def test_server_urls_are_normalised(given, expected):
    assert config.normalize_url(given) == expected


@pytest.mark.parametrize(
    "bad", ["ap.example.com", "ftp://ap.example.com", "https://", "", "https://h/?x=1"]
)
def test_bad_server_urls_are_refused(bad):
    with pytest.raises(UsageError):
        config.normalize_url(bad)


def test_cli_without_login_exits_5_with_a_hint(run):
    result = run("request", "ls")
    assert result.code == 5
    assert result.err.strip() == (
        "accessctl: error: no server configured; run `accessctl login --url https://...` "
        "or set ACCESSPORTAL_URL and ACCESSPORTAL_TOKEN"
    )


def test_a_corrupt_config_file_is_reported_without_a_traceback(run, cli_env):
    path = config.config_path(cli_env)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    result = run("request", "ls")
    assert result.code == 1
    assert result.err.startswith(f"accessctl: error: cannot read {path}")
    assert "Traceback" not in result.err


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_world_readable_config_file_is_warned_about(run, cli_env, closed_port):
    path = config.config_path(cli_env)
    config.save(url=f"http://127.0.0.1:{closed_port}", token="t", path=path)
    path.chmod(0o644)
    result = run("request", "ls")
    assert f"{path} holds a token and is readable by others; run: chmod 600 {path}" in result.err
