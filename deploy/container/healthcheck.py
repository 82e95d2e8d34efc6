"""A container healthcheck without curl (python:3.11-slim has none): GET a URL of the web
process and exit 0 when it answers 200, 1 otherwise.

    python deploy/container/healthcheck.py /healthz                     # this container's web
    python deploy/container/healthcheck.py http://web:8000/readyz heartbeats

A path is asked of this container's gunicorn (GUNICORN_BIND's port). With a check name,
only that check of /readyz's JSON must be "ok" (a worker or beat is healthy when /readyz
sees their heartbeats, whatever the other checks say). The Host header is the first of
DJANGO_ALLOWED_HOSTS, a host the service accepts.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    if not 2 <= len(argv) <= 3:
        print(__doc__, file=sys.stderr)
        return 2
    url = argv[1]
    if url.startswith("/"):
        port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",")[0].rsplit(":", 1)[1]
        url = f"http://127.0.0.1:{port}{url}"
    host = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost").split(",")[0].strip()
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:  # /readyz answers 503 with the checks
        status, body = error.code, error.read()
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if len(argv) == 2:
        print(f"{url}: {status}")
        return 0 if status == 200 else 1
    checks = {check["name"]: check for check in json.loads(body).get("checks", [])}
    check = checks.get(argv[2], {"state": "missing", "message": "no such check"})
    print(f"{url} {argv[2]}: {check['state']} ({check.get('message', '')})")
    return 0 if check["state"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
