"""gunicorn settings for Access Portal (docs/deploy.md; deploy/systemd/accessportal-web.service).

    gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py

Read from the same environment as the application: GUNICORN_BIND (default
127.0.0.1:8000), GUNICORN_WORKERS (default 4), PROMETHEUS_MULTIPROC_DIR (metrics, below).
"""

import os
import subprocess
import sys
from pathlib import Path

# Settings errors stop the master before it binds or boots a worker: one line on stderr
# ("accessportal: configuration error: ...") and exit status 2 (accessportal/startup.py).
# Checked in a throwaway interpreter, so the master itself never imports the application
# (its workers do, and `kill -HUP` reloads them with new code), from this checkout.
# gunicorn runs this file again on every HUP (`systemctl reload`), inside the running
# master: there a failed check is only logged, never an exit (the unit would not restart a
# status 2, and the master keeps the environment it started with anyway). The marker holds
# the master's pid, so a master re-executed by USR2 checks again.
_FIRST_LOAD = os.environ.get("ACCESSPORTAL_GUNICORN_MASTER") != str(os.getpid())
_CHECK_TIMEOUT = 60  # seconds; importing the settings takes about one
try:
    _check = subprocess.run(
        [sys.executable, "-c", "import accessportal.startup as s; s.exit_on_configuration_error()"],
        cwd=Path(__file__).resolve().parent.parent,
        check=False,
        timeout=_CHECK_TIMEOUT,
    ).returncode
except subprocess.TimeoutExpired:
    print(
        f"accessportal: the settings check did not finish within {_CHECK_TIMEOUT} s",
        file=sys.stderr,
        flush=True,
    )
    _check = 1
if _check and _FIRST_LOAD:
    raise SystemExit(_check)
if _check:
    print(
        "accessportal: reload: the settings check failed (above); the master keeps running. "
        "Fix it, then `systemctl restart accessportal-web`",
        file=sys.stderr,
        flush=True,
    )
os.environ["ACCESSPORTAL_GUNICORN_MASTER"] = str(os.getpid())

_binds = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
bind = [b.strip() for b in _binds.split(",") if b.strip()]
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# Requests are short; a worker stuck this long is killed and replaced.
timeout = 30
graceful_timeout = 25
# The application logs each request itself (JSON in production, with the request id).
accesslog = None
# gunicorn 27's control socket (in $HOME/.gunicorn by default: the service user has no
# writable home, and two servers with one HOME would share it) is not used here.
control_socket_disable = True


# Metrics (docs/operations.md, "Metrics"): with PROMETHEUS_MULTIPROC_DIR set, every worker
# writes its counters there and /metrics adds them up. The folder is emptied when the
# server starts (a previous run's counts must not be added to this one's), and
# prometheus_client is told when a worker exits. Standard library and prometheus_client
# only: the master does not load Django.
def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink(missing_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
