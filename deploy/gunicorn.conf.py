"""gunicorn settings for Access Portal (docs/deploy.md; deploy/systemd/accessportal-web.service).

    gunicorn accessportal.wsgi -c deploy/gunicorn.conf.py

Read from the same environment as the application: GUNICORN_BIND (default
127.0.0.1:8000), GUNICORN_WORKERS (default 4).
"""

import os
import subprocess
import sys
from pathlib import Path

# Settings errors stop the master before it binds or boots a worker: one line on stderr
# ("accessportal: configuration error: ...") and exit status 2 (accessportal/startup.py).
# Checked in a throwaway interpreter, so the master itself never imports the application
# (its workers do, and `kill -HUP` reloads them with new code), from this checkout.
_check = subprocess.run(
    [sys.executable, "-c", "import accessportal.startup as s; s.exit_on_configuration_error()"],
    cwd=Path(__file__).resolve().parent.parent,
    check=False,
)
if _check.returncode:
    raise SystemExit(_check.returncode)

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
