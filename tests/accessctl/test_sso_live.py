"""`accessctl login --sso` against a live server, without a real browser.

The "browser" here is a signed-in Django test client that confirms on the portal page, and
urllib that follows the portal's redirect to the CLI's listener: the same HTTP a browser
sends. tests/browser/test_cli_sso.py runs the same flows in chromium.
"""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accessctl import config
from requests_app.models import ApiToken
from requests_app.services.cli_login import device_code_decide
from requests_app.services.tokens import api_token_mint
from tests.accessctl.cli_thread import CliThread

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.usefixtures("_server_idle_at_teardown"),
]


def wait_for(predicate, what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def confirm(url: str, user, action: str = "approve") -> str:
    """What a signed-in person's browser does with the sign-in URL; the callback URL."""
    client = Client()
    client.force_login(user)
    params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert client.get("/cli/login/", params).status_code == 200
    response = client.post("/cli/login/", {**params, "action": action})
    assert response.status_code == 302
    return response["Location"]


def test_no_browser_prints_the_url_and_the_callback_completes_the_login(
    live_server, base_policy, user, cli_env
):
    run = CliThread(["login", "--sso", "--no-browser", "--url", live_server.url], cli_env)
    wait_for(lambda: "/cli/login/?port=" in run.stdout, "the URL")
    url = re.search(r"(http://\S+/cli/login/\?\S+)", run.stdout).group(1)
    callback = confirm(url, user("alice"))
    assert callback.startswith("http://127.0.0.1:")
    # A callback with another state is not this CLI's sign-in: refused, and it keeps waiting.
    forged = callback.replace("state=", "state=x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 400
    with urllib.request.urlopen(callback, timeout=10) as page:
        assert b"Return to your terminal" in page.read()
    run.join()
    assert run.code == 0, run.stderr
    stored = config.load_file(config.config_path(cli_env))
    assert stored["user"] == "alice" and stored["token"].startswith("apt_")
    assert stored["expires_at"] and stored["url"] == live_server.url
    assert ApiToken.objects.get().created_via == "cli:loopback"


def test_without_a_browser_the_device_flow_is_used(live_server, base_policy, user, cli_env):
    alice = user("alice")
    approved, constructed = [], threading.Event()

    def pause(_seconds):
        # Runs in the CLI's thread (its own database connection): during the first wait,
        # the person approves the printed code.
        if not approved:
            assert constructed.wait(10)
            code = re.search(r"^  ([B-Z]{4}-[B-Z]{4})$", run.stdout, re.M).group(1)
            try:
                device_code_decide(user=alice, user_code=code, approve=True)
            finally:
                connection.close()
            approved.append(code)

    run = CliThread(
        ["login", "--sso", "--url", live_server.url],
        cli_env,
        browser=lambda url: False,
        sleep=pause,
    )
    constructed.set()
    run.join()
    assert run.code == 0, run.stderr
    out = run.stdout
    assert "No browser could be opened here; sign in from another device instead." in out
    assert f"open {live_server.url}/cli/device/ in any browser" in out
    assert ApiToken.objects.get().created_via == "cli:device"


def test_the_login_gives_up_when_nobody_confirms(live_server, base_policy, cli_env):
    run = CliThread(
        ["login", "--sso", "--url", live_server.url],
        {**cli_env, "ACCESSPORTAL_LOGIN_TIMEOUT": "0.3"},
        browser=lambda url: True,
    )
    run.join()
    assert run.code == 5
    assert run.stderr == ("accessctl: error: no sign-in from the browser within 0.3 seconds\n")


def _mint(user, *, expired: bool) -> str:
    with transaction.atomic():
        minted = api_token_mint(user=user, via="cli:loopback")
    if expired:
        ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    return minted.key


def test_an_expired_stored_session_says_so_before_calling(run, live_server, base_policy, cli_env):
    config.save(
        url=live_server.url,
        token="apt_" + "0" * 48,
        user="alice",
        expires_at="2020-01-01T00:00:00Z",
        path=config.config_path(cli_env),
    )
    result = run("request", "ls")
    assert result.code == 5
    assert result.err == "accessctl: error: your session expired, run accessctl login --sso\n"


def test_a_session_the_server_finds_expired_says_so(run, live_server, base_policy, user):
    key = _mint(user("alice"), expired=True)
    result = run("whoami", env={"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": key})
    assert result.code == 5
    assert result.err == "accessctl: error: your session expired, run accessctl login --sso\n"
    live = _mint(user("alice"), expired=False)
    result = run("whoami", env={"ACCESSPORTAL_URL": live_server.url, "ACCESSPORTAL_TOKEN": live})
    assert result.code == 0 and "alice" in result.out
