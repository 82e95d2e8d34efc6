#!/usr/bin/env python3
"""Zero-setup entry point for a machine that has only Python 3.11+.

    python3 dev.py demo   # install into .venv, load the demo, serve http://127.0.0.1:8000
    python3 dev.py test   # install into .venv, run the test suite (pytest arguments may follow)

Everything goes into ./.venv; SQLite is the database unless DATABASE_URL says otherwise.
`demo` also runs a Celery worker and Celery beat beside the web server (`--no-worker` to
skip them); without CELERY_BROKER_URL they use the embedded filesystem broker in .celery/.
"""

from __future__ import annotations

import hashlib
import os
import signal
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


def start_workers() -> list[subprocess.Popen]:
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
    return [subprocess.Popen(command, cwd=ROOT) for command in (worker, beat)]


def demo(args: list[str]) -> None:
    ensure_venv()
    with_worker = "--no-worker" not in args
    args = [a for a in args if a != "--no-worker"]
    _run(PYTHON, "manage.py", "migrate", "--noinput", "-v", "0")
    _run(PYTHON, "manage.py", "demo_setup")
    addr = args[0] if args else "127.0.0.1:8000"
    children = start_workers() if with_worker else []
    # A SIGTERM (not only Ctrl-C) must also stop the worker and beat started above.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"\nAccess Portal demo at http://{addr}/  (Ctrl-C to stop)\n", flush=True)
    try:
        subprocess.run([str(PYTHON), "manage.py", "runserver", addr], cwd=ROOT)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def test(args: list[str]) -> None:
    ensure_venv()
    result = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT)
    sys.exit(result.returncode)


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
