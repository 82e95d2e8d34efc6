#!/usr/bin/env python3
"""Zero-setup entry point for a machine that has only Python 3.11+.

    python3 dev.py demo [--no-worker] [[HOST:]PORT]
                          # install into .venv, load the demo, serve http://127.0.0.1:8000
                          # (python3 dev.py demo 0.0.0.0:8000 serves other machines too)
    python3 dev.py test   # install into .venv, run the test suite (pytest arguments may follow)
    python3 dev.py demo --help

Everything goes into ./.venv; SQLite is the database unless DATABASE_URL says otherwise.
`demo` also runs a Celery worker and Celery beat beside the web server (`--no-worker` to
skip them); without CELERY_BROKER_URL they use the embedded filesystem broker in .celery/.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".accessportal-installed"


def _run(*args: object, **kwargs) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    """Create .venv and install the project with its dev extras, again only if pyproject changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv exists
        sys.exit(f"Access Portal needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing Access Portal and its dependencies into .venv ...", flush=True)
    _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(digest)


def start_workers(env: dict[str, str]) -> list[subprocess.Popen]:
    """A Celery worker (all queues) and Celery beat (the periodic sweeps), as in production."""
    (ROOT / ".celery").mkdir(exist_ok=True)
    celery = [str(PYTHON), "-m", "celery", "-A", "accessportal"]
    worker = [
        *celery,
        "worker",
        "--pool=threads",
        "--concurrency=2",
        "--loglevel=INFO",
        "--without-mingle",
        "--without-gossip",
        "--hostname=demo@%h",
    ]
    beat = [*celery, "beat", "--loglevel=INFO"]
    return [_spawn(command, env) for command in (worker, beat)]


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start a child in its own process group, so that stopping it stops its own children
    too (runserver's autoreloader serves from a child process that would keep the port)."""
    if os.name == "nt":
        return subprocess.Popen(command, cwd=ROOT, env=env)
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM every child's process group, wait for them, SIGKILL what is left."""
    for child in children:
        _signal_group(child, signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(child, signal.SIGKILL)
            child.wait(timeout=15)
        # The group may outlive its leader (runserver's reloader child): end it as well.
        _signal_group(child, signal.SIGKILL)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    if os.name == "nt":
        if child.poll() is None:
            child.kill() if signum == signal.SIGKILL else child.terminate()
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signum)


def _address(text: str) -> tuple[str, str]:
    """runserver's address forms: `PORT`, `HOST:PORT`, `[IPv6]:PORT` → (host, port)."""
    host, colon, port = text.rpartition(":")
    if not colon:
        host, port = "127.0.0.1", text
    host = host.removeprefix("[").removesuffix("]")
    if not port.isdigit() or not 0 < int(port) < 65536 or not host or " " in host:
        raise argparse.ArgumentTypeError(f"{text!r} is not PORT or HOST:PORT")
    return host, port


def _demo_arguments(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python3 dev.py demo",
        description=(
            "Install into .venv, migrate the database (SQLite db.sqlite3 in this folder unless "
            "DATABASE_URL says otherwise), load examples/demo.yaml (every demo password is "
            "demo-password), start a Celery worker and beat, and serve the site until "
            "Ctrl-C or SIGTERM, which stop every process it started."
        ),
        epilog=(
            "examples: python3 dev.py demo | python3 dev.py demo 8080 | "
            "python3 dev.py demo 0.0.0.0:8000 (reachable from other machines)"
        ),
    )
    parser.add_argument(
        "address",
        nargs="?",
        default="127.0.0.1:8000",
        type=_address,
        metavar="[HOST:]PORT",
        help="where to serve (default 127.0.0.1:8000); e-mail links point here",
    )
    parser.add_argument(
        "--no-worker", action="store_true", help="serve the site alone (no Celery worker, beat)"
    )
    return parser.parse_args(args)


def _served_environment(host: str, port: str) -> dict[str, str]:
    """The children's environment: links in notifications, and the host names Django
    accepts, follow the address served unless the user set them."""
    env = dict(os.environ)
    public = socket.gethostname() if host in {"0.0.0.0", "::"} else host
    origin = f"http://{f'[{public}]' if ':' in public else public}:{port}"
    env.setdefault("NOTIFY_REQUEST_URL", origin + "/requests/{id}/")
    # The demo shows whole emails (their links are how one follows a request); the
    # development default logs one line per email (accessportal/logs/mail.py).
    env.setdefault("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    if not env.get("DJANGO_ALLOWED_HOSTS"):
        env["DJANGO_ALLOWED_HOSTS"] = ",".join(
            dict.fromkeys(["127.0.0.1", "localhost", "[::1]", public])
        )
    return env


def demo(args: list[str]) -> None:
    options = _demo_arguments(args)  # --help and a bad address end here, before any work
    host, port = options.address
    ensure_venv()
    _run(PYTHON, "manage.py", "migrate", "--noinput", "-v", "0")
    _run(PYTHON, "manage.py", "demo_setup")
    env = _served_environment(host, port)
    # SIGTERM, like Ctrl-C, ends the demo through the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: list[subprocess.Popen] = []
    code = 0
    try:
        if not options.no_worker:
            children += start_workers(env)
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        server = _spawn([str(PYTHON), "manage.py", "runserver", bind], env)
        children.append(server)
        link = env["NOTIFY_REQUEST_URL"].removesuffix("requests/{id}/")
        print(f"\nAccess Portal demo at {link}  (Ctrl-C to stop)\n", flush=True)
        code = server.wait()  # on its own only if it failed, e.g. the port is taken
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut this short
        _stop(children)
    sys.exit(code)


def test(args: list[str]) -> None:
    ensure_venv()
    result = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) >= 2 and sys.argv[1] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
