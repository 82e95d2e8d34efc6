"""`accessctl login --sso` end to end: the CLI, a real browser, the live portal.

The CLI runs in a thread (`main(argv)`), talking HTTP to the live server. Its "browser
opener" hands the sign-in URL to the Playwright page, which signs in to the portal and
confirms, as a person would; the CLI then works as that person. The device flow's first
pause is where the person approves the code the CLI printed.
"""

from __future__ import annotations

import io
import queue
import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from accessctl.main import main
from tests.accessctl.cli_thread import CliThread
from tests.browser.conftest import PASSWORD


@pytest.fixture
def alice_web(base_policy, web_user):
    return web_user("alice")


def cli(argv, environ) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err, stdin=io.StringIO(), environ=environ)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def environ(tmp_path):
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}


def sign_in(page) -> None:
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_loopback_login_in_the_browser_then_commands_run_as_that_person(
    page, live_server, alice_web, environ
):
    urls: queue.Queue[str] = queue.Queue()

    def opener(url: str) -> bool:
        urls.put(url)
        return True

    run = CliThread(["login", "--sso", "--url", live_server.url], environ, browser=opener)
    url = urls.get(timeout=20)
    assert url.startswith(f"{live_server.url}/cli/login/?port=")
    page.goto(url)
    sign_in(page)  # the confirm page needs a session: whatever sign-in the portal offers
    expect(page.get_by_role("heading", name="Sign in accessctl on this machine?")).to_be_visible()
    port = parse_qs(urlsplit(url).query)["port"][0]
    expect(page.get_by_text(f"127.0.0.1:{port}")).to_be_visible()
    page.get_by_role("button", name="Sign in accessctl").click()
    expect(page.get_by_role("heading", name="accessctl is signing in")).to_be_visible()
    run.join()
    assert run.code == 0, run.stderr
    assert re.search(
        rf"^Logged in to {re.escape(live_server.url)} as alice until \d{{4}}-\d\d-\d\d "
        r"\d\d:\d\d UTC \(in 1[12]h",
        run.stdout,
        re.M,
    ), run.stdout

    code, out, err = cli(["whoami"], environ)
    assert code == 0, err
    assert re.search(r"^User:\s+alice$", out, re.M)
    code, out, err = cli(["request", "ls", "--json"], environ)
    assert (code, out.strip()) == (0, "[]"), err


def test_cancel_in_the_browser_stops_the_cli(page, live_server, alice_web, environ):
    urls: queue.Queue[str] = queue.Queue()
    run = CliThread(
        ["login", "--sso", "--url", live_server.url],
        environ,
        browser=lambda url: urls.put(url) or True,
    )
    page.goto(urls.get(timeout=20))
    sign_in(page)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Sign-in cancelled")).to_be_visible()
    run.join()
    assert run.code == 5
    assert run.stderr == "accessctl: error: sign-in cancelled in the browser\n"


def test_device_login_approved_in_the_portal(page, live_server, alice_web, environ):
    shown, approved = threading.Event(), threading.Event()

    def pause(_seconds: float) -> None:
        # The CLI waits before each poll: the first wait is where the person acts.
        if not shown.is_set():
            shown.set()
            assert approved.wait(30)

    run = CliThread(["login", "--sso", "--device", "--url", live_server.url], environ, sleep=pause)
    assert shown.wait(20)
    printed = run.stdout
    user_code = re.search(r"^  ([B-Z]{4}-[B-Z]{4})$", printed, re.M).group(1)
    assert f"open {live_server.url}/cli/device/ in any browser" in printed
    page.goto(f"{live_server.url}/cli/device/")
    sign_in(page)
    page.get_by_label("Code shown in the terminal").fill(user_code.lower().replace("-", ""))
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text(f"showing {user_code} is signed in as alice")).to_be_visible()
    approved.set()
    run.join()
    assert run.code == 0, run.stderr
    assert "Logged in to" in run.stdout and "as alice until" in run.stdout
    code, out, err = cli(["whoami"], environ)
    assert code == 0 and re.search(r"^User:\s+alice$", out, re.M), err
