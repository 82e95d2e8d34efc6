"""gunicorn settings for Access Portal (docs/deploy.md; deploy/systemd/accessportal-web.service).

    gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py

Read from the same environment as the application: GUNICORN_BIND (default
127.0.0.1:8000), GUNICORN_WORKERS (default 4), PROMETHEUS_MULTIPROC_DIR (metrics, below).
"""

import os
from pathlib import Path

_binds = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
bind = [b.strip() for b in _binds.split(",") if b.strip()]
workers = int(os.environ.get("GUNICORN_WORKERS", "4"))
# Requests are short; a worker stuck this long is killed and replaced.
timeout = 30
graceful_timeout = 25
# The application logs each request itself (JSON in production, with the request id).
accesslog = None


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
