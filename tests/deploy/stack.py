"""Launchers for the deployment tests: the processes docs/deploy.md runs, started from the
command lines of deploy/systemd/accessportal-{web,worker,beat}.service (without systemd).

A unit is read as systemd would run it: its ExecStart, WorkingDirectory, Environment= lines
and EnvironmentFile, in an environment holding only those (plus PATH, HOME and LANG), with
these paths moved: /opt/accessportal → this checkout, its .venv → the running virtualenv,
/etc/accessportal/env → a file written from deploy/systemd/accessportal.env.example with the
test's values, /var/lib/accessportal and /run/accessportal → temporary folders.

nginx: tests/deploy/nginx.py. Redis: the host of ACCESSPORTAL_TEST_REDIS_URL, database 13 for
the broker (each stack under its own key prefix) and one database per test module for
CACHE_URL (14: the smoke test, 15: the two-node test; ACCESSPORTAL_TEST_REDIS_STACK_DBS
names three others), emptied before and after its run: the
cache has no key prefix, and the rate limits' counters of a previous run must not count.
The two-beats test runs its own redis-server (tests/redis_server.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from psycopg.conninfo import conninfo_to_dict

from tests.postgres_server import admin_conninfo
from tests.server_process import free_port
from tests.worker_support import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = UNITS / "accessportal.env.example"
VENV = Path(sys.prefix)  # the virtualenv running the tests
# Databases of the test Redis this stack uses; CI's two concurrent passes give each its own
# (.ci/run), as they give each its own ACCESSPORTAL_TEST_REDIS_URL.
BROKER_DB, SMOKE_CACHE_DB, NODES_CACHE_DB = (
    int(db) for db in os.environ.get("ACCESSPORTAL_TEST_REDIS_STACK_DBS", "13,14,15").split(",")
)
WAIT = 120  # seconds: a bound on waits for processes and the worker, never a target


def redis_url(db: int, *, base: str = REDIS_URL) -> str:
    """`base` (the test Redis) with database number `db`."""
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{db}"))


def eventually(condition: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


# --- Units and the environment file --------------------------------------------------------


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (comments, quotes)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, _, value = line.partition("=")
        words = shlex.split(value)
        values[key.strip()] = " ".join(words)
    return values


def moved_paths(text: str, *, env_file: Path, state_dir: Path) -> str:
    """`text` with the guide's paths moved to this machine's (module docstring). The
    folders systemd makes for a unit (StateDirectory=, RuntimeDirectory=) are under
    `state_dir`."""
    moves = [
        ("/opt/accessportal/.venv", str(VENV)),
        ("/opt/accessportal", str(ROOT)),
        ("/etc/accessportal/env", str(env_file)),
        ("/var/lib/accessportal", str(state_dir / "lib")),
        ("/run/accessportal", str(state_dir / "run")),
    ]
    for old, new in moves:
        text = text.replace(old, new)
    return text


def write_env_file(path: Path, values: dict[str, str], *, state_dir: Path) -> Path:
    """The example's lines (paths moved), each key it names replaced by `values`, the other
    keys added."""
    lines, seen = [], set()
    example = moved_paths(ENV_EXAMPLE.read_text(), env_file=path, state_dir=state_dir)
    for line in example.splitlines():
        key = line.partition("=")[0].strip()
        if not line.startswith("#") and key in values:
            line = f"{key}={_quote(values[key])}"
            seen.add(key)
        lines.append(line)
    lines += [f"{k}={_quote(v)}" for k, v in values.items() if k not in seen]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _quote(value: str) -> str:
    return f'"{value}"' if re.search(r"[\s\"'\\#]", value) else value


class Unit:
    """A systemd unit file of deploy/systemd, with the paths moved to this machine's."""

    def __init__(self, name: str, *, env_file: Path, state_dir: Path) -> None:
        self.name = name
        text = (UNITS / f"accessportal-{name}.service").read_text()
        text = moved_paths(text, env_file=env_file, state_dir=state_dir)
        self.directives: dict[str, list[str]] = {}
        for line in text.splitlines():
            if "=" in line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                self.directives.setdefault(key.strip(), []).append(value.strip())
        [exec_start] = self.directives["ExecStart"]
        self.command = shlex.split(exec_start)
        self.cwd = Path(self.directives.get("WorkingDirectory", [str(ROOT)])[0])

    def environment(self) -> dict[str, str]:
        """What systemd gives the service: a bare environment, the EnvironmentFile, then
        the unit's Environment= lines."""
        env = {
            "PATH": f"{VENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
        }
        for path in self.directives.get("EnvironmentFile", []):
            env |= parse_env_file(Path(path.lstrip("-")).read_text())
        for line in self.directives.get("Environment", []):
            for word in shlex.split(line):
                key, _, value = word.partition("=")
                env[key] = value
        return env


class Service:
    """One process in its own session (its children with it), output in a log file."""

    def __init__(self, name: str, command: list[str], *, cwd: Path, env: dict, logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def records(self) -> list[dict]:
        """The JSON objects of a production process's log lines. The last line is left out
        until it ends (the process may be writing it); non-JSON lines (a banner) are skipped."""
        complete = self.output().split("\n")[:-1]
        return [json.loads(line) for line in complete if line.startswith("{")]

    def messages(self) -> list[str]:
        return [record["message"] for record in self.records()]

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_for(self, condition: Callable[[], object], what: str) -> object:
        def check():
            if not self.alive():
                raise AssertionError(f"{self.name} exited waiting for {what}:\n{self.output()}")
            return condition()

        try:
            return eventually(check, what)
        except AssertionError as error:
            raise AssertionError(f"{error}; {self.name}'s log:\n{self.output()[-6000:]}") from None

    def kill(self) -> None:
        """SIGKILL to the whole group: a crash or a machine gone, nothing cleans up."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the main process, as systemd's KillMode=mixed does."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        if self.alive() or _group_alive(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        self.log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


class Stack:
    """The processes of one deployment on this machine, as the guide starts them."""

    def __init__(self, workdir: Path, values: dict[str, str]) -> None:
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.state = workdir / "state"
        self.logs.mkdir(parents=True, exist_ok=True)
        for folder in ("lib", "run"):
            (self.state / folder).mkdir(parents=True, exist_ok=True)
        self.env_file = write_env_file(workdir / "env", values, state_dir=self.state)
        self.services: list[Service] = []

    def unit(self, name: str) -> Unit:
        return Unit(name, env_file=self.env_file, state_dir=self.state)

    def manage(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """`python manage.py ...` in the checkout, with the services' environment."""
        unit = self.unit("web")
        done = subprocess.run(
            [str(VENV / "bin" / "python"), "manage.py", *args],
            cwd=unit.cwd,
            env=unit.environment() | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}{done.stderr}"
        return done

    def apply_policies(self, text: str) -> None:
        path = self.workdir / "policy.yaml"
        path.write_text(text)
        self.manage("apply_policies", str(path))

    def set_passwords(self, *names: str) -> dict[str, str]:
        """A new password for each user named (who then signs in for an API token)."""
        passwords = {name: secrets.token_urlsafe(16) for name in names}
        pairs = ",".join(f"{n}:{p}" for n, p in passwords.items())
        self.manage("shell", "-c", SET_PASSWORDS, env={"AP_TEST_PASSWORDS": pairs})
        return passwords

    def start(
        self,
        name: str,
        *,
        label: str | None = None,
        env: dict[str, str] | None = None,
        args: list[str] = (),
        replace: dict[str, str] | None = None,
    ) -> Service:
        """Start the unit `name`'s ExecStart; `env` as a systemd drop-in would add it, `args`
        appended and `replace` swapping whole arguments (another node's name, fewer
        processes on a small test machine)."""
        unit = self.unit(name)
        label = label or name
        command = [(replace or {}).get(word, word) for word in unit.command] + list(args)
        # Each process its own home, as on its own machine (gunicorn puts its control
        # socket in $HOME/.gunicorn).
        home = self.workdir / "home" / label
        home.mkdir(parents=True, exist_ok=True)
        service = Service(
            label,
            command,
            cwd=unit.cwd,
            env=unit.environment() | {"HOME": str(home)} | (env or {}),
            logs=self.logs,
        )
        self.services.append(service)
        return service

    def run_once(self, name: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run a one-shot unit's ExecStart (a timer's job) to its end, as systemd would."""
        unit = self.unit(name)
        return subprocess.run(
            unit.command,
            cwd=unit.cwd,
            env=unit.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


SET_PASSWORDS = """
import os
from django.contrib.auth import get_user_model
for pair in os.environ["AP_TEST_PASSWORDS"].split(","):
    name, password = pair.split(":", 1)
    user = get_user_model().objects.get(username=name)
    user.set_password(password)
    user.save()
"""


def database_url(dbname: str) -> str:
    """A URL (DATABASE_URL) for `dbname` on the local test server (tests/postgres_server.py)."""
    params = conninfo_to_dict(admin_conninfo(dbname))
    auth = urllib.parse.quote(params.get("user", "postgres"))
    if params.get("password"):
        auth += ":" + urllib.parse.quote(params["password"])
    host, port = params.get("host", "127.0.0.1"), params.get("port", "5432")
    return f"postgres://{auth}@{host}:{port}/{dbname}"


# --- A production environment ----------------------------------------------------------


def production_values(
    *, database_url: str, public_url: str, web_port: int, static_root: Path, cache_db: int
) -> dict[str, str]:
    """The environment file's values for a stack: the example's keys with test values, and
    the ones production requires besides (docs/deploy.md; the ops contract)."""
    prefix = f"ap-deploy-{uuid.uuid4().hex[:8]}:"
    return {
        "ACCESSPORTAL_MODE": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_url(BROKER_DB),
        "CELERY_REDIS_KEY_PREFIX": prefix,
        "CACHE_URL": redis_url(cache_db),
        "NOTIFY_REQUEST_URL": f"{public_url}/requests/{{id}}/",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        "ACCESSPORTAL_TRUSTED_PROXIES": "1",
        "CSRF_TRUSTED_ORIGINS": public_url,
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        # Nobody is emailed; were a mail sent, it would meet a closed loopback port.
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(free_port()),
        "NOTIFY_EMAIL_USERS": "false",
        "DJANGO_STATIC_ROOT": str(static_root),
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": "2",
        # /readyz wants heartbeats from a worker and beat: sent every second here.
        "HEALTH_HEARTBEAT_INTERVAL": "1",
        "HEALTH_HEARTBEAT_MAX_AGE": "60",
        "ACCESSPORTAL_SWEEP_INTERVAL": "2",
        "BEAT_LOCK_TIMEOUT": "6",
    }


def clear_redis(url: str, prefix: str | None = None) -> None:
    """Remove a stack's keys (its prefix), or the whole database of the given URL."""
    client = redis.Redis.from_url(url)
    try:
        if prefix is None:
            client.flushdb()
            return
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
