"""`systemctl reload accessportal-web` (HUP) never stops gunicorn's master.

gunicorn runs deploy/gunicorn.conf.py again inside the running master on every HUP, and so
its settings check. The check stops a master that is starting (status 2, which the unit
does not restart); on a reload it may only log. A real gunicorn serves the real application
here; the config file is a copy placed beside a `accessportal/startup.py` of the test's,
which the check (run from the config file's checkout) imports, so that the check can be
made to fail while the workers keep the real settings.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.deploy.test_settings_checks import BIN, ROOT, production
from tests.server_process import ServerProcess, port_answers

DEADLINE = 60  # seconds: a bound on each wait, not a target
REFUSAL = "accessportal: configuration error: CACHE_URL must be set in production"
_CHECK = """import os, sys
def exit_on_configuration_error():
    if os.path.exists({flag!r}):
        print({refusal!r}, file=sys.stderr, flush=True)
        raise SystemExit(2)
"""


def checkout_with_failing_check(tmp_path: Path) -> tuple[Path, Path]:
    """A checkout holding the real config file and a check that fails while `flag` exists."""
    checkout, flag = tmp_path / "checkout", tmp_path / "settings-broken"
    (checkout / "deploy").mkdir(parents=True)
    (checkout / "accessportal").mkdir()
    shutil.copy(ROOT / "deploy" / "gunicorn.conf.py", checkout / "deploy" / "gunicorn.conf.py")
    (checkout / "accessportal" / "__init__.py").write_text("")
    (checkout / "accessportal" / "startup.py").write_text(
        _CHECK.format(flag=str(flag), refusal=REFUSAL)
    )
    return checkout / "deploy" / "gunicorn.conf.py", flag


def healthz(port: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz", headers={"Host": "access.example.com"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def wait_for(condition, what: str, server: ServerProcess) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if server.process.poll() is not None:
            raise AssertionError(f"gunicorn's master stopped (status {server.process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DEADLINE} s")
        time.sleep(0.1)


def test_a_failed_check_on_reload_is_logged_and_the_master_keeps_serving(tmp_path):
    config, flag = checkout_with_failing_check(tmp_path)
    env = production()
    port = int(env["GUNICORN_BIND"].rpartition(":")[2])
    log = tmp_path / "gunicorn.log"
    server = ServerProcess()
    server.name = "gunicorn"
    command = [str(BIN / "gunicorn"), "accessportal.wsgi", "-c", str(config)]
    try:
        server.launch(command, log, lambda: port_answers(port), cwd=ROOT, env=env)
        wait_for(lambda: log.read_text().count("Booting worker") == 1, "the first worker", server)
        assert healthz(port) == 200

        flag.touch()  # from now on the check refuses the settings
        server.process.send_signal(signal.SIGHUP)
        wait_for(lambda: log.read_text().count("Booting worker") == 2, "a worker after HUP", server)
        output = log.read_text()
        assert REFUSAL in output, "the check ran again and its refusal is in the log"
        assert "reload: the settings check failed (above); the master keeps running" in output
        assert server.process.poll() is None, "the master is still running"
        assert healthz(port) == 200
    finally:
        server.stop()


def test_a_failed_check_at_start_still_stops_the_master_with_status_2(tmp_path):
    """The control: the same config file and check stop a master that is starting."""
    config, flag = checkout_with_failing_check(tmp_path)
    flag.touch()
    result = subprocess.run(
        [str(BIN / "gunicorn"), "accessportal.wsgi", "-c", str(config)],
        cwd=ROOT, env=production(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [REFUSAL]
