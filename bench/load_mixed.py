"""A bounded mixed load run: wrk against gunicorn + PostgreSQL, access checks, creates and
reviews through the REST API with real tokens. Not a test: it prints figures (docs/LOAD.md).

    python -m bench.load_mixed                 # 60 s, 3 gunicorn workers, wrk -t2 -c8
    python -m bench.load_mixed --duration 10   # a quick look

Needs wrk (`apt-get install wrk`), gunicorn (in the dev extras), PostgreSQL and
Redis (the broker that after-commit jobs are queued on; no worker runs, so the run
measures the web tier alone). It recreates its own database (--database-url, default
`ap_load_mixed` on the local server), loads a policy of 100 engineers, 20 reviewers and an
integration account, approves access for half the engineers, starts gunicorn on loopback,
runs wrk with bench/load_mixed.lua, stops gunicorn, then checks the result: no HTTP error,
no socket error, no traceback in gunicorn's log, an intact audit chain (verify_audit) and
the database agreeing with what wrk counted. Exits 1 when any of that fails.

Rate limits are raised for the run through the environment (API_THROTTLE_*), never by
changing the defaults: with one shared client address every call would otherwise be
throttled after the first minute's budget.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
LUA = Path(__file__).with_suffix(".lua")

REQUESTERS = [f"u{i:03d}" for i in range(100)]
REVIEWERS = [f"r{i:02d}" for i in range(20)]
INTEGRATIONS = ["svc-monitor", "svc-deploy"]

POLICY = (
    """
kind: role
name: engineer
spec:
  allow:
    request: {roles: [db-admin, dev-admin], max_duration: 8h}
---
kind: role
name: db-admin
---
kind: role
name: dev-admin
---
kind: role
name: reviewer
spec:
  allow:
    review_requests: {roles: [db-admin, dev-admin]}
---
kind: role
name: integration
spec:
  allow:
    permissions: [requests_app.check_access]
"""
    + "".join(f"---\nkind: user\nname: {n}\nroles: [engineer]\n" for n in REQUESTERS)
    + "".join(f"---\nkind: user\nname: {n}\nroles: [reviewer]\n" for n in REVIEWERS)
    + "".join(f"---\nkind: user\nname: {n}\nroles: [integration]\n" for n in INTEGRATIONS)
)

# Run inside Django (a subprocess with the run's environment): load the policy, approve
# db-admin for half the engineers, write every token as "kind name key" lines.
SETUP = """
import sys
import django
django.setup()
from django.contrib.auth import get_user_model
from policies_app.loader import plan_from_texts
from policies_app.services.apply import policies_apply
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from requests_app.services.tokens import api_token_create

policy, tokens_path, requesters, reviewers, integrations = sys.argv[1:6]
requesters, reviewers = requesters.split(","), reviewers.split(",")
integrations = integrations.split(",")
policies_apply(plan=plan_from_texts([("load.yaml", open(policy).read())]))
User = get_user_model()
users = {u.username: u for u in User.objects.all()}
for i, name in enumerate(requesters[: len(requesters) // 2]):
    request = access_request_create(
        requester=users[name], roles=["db-admin"], reason="seed", max_duration="8h"
    )
    review_submit(request_id=request.id, reviewer=users[reviewers[i % len(reviewers)]],
                  state="APPROVED", reason="seed")
with open(tokens_path, "w") as out:
    for kind, names in (("requester", requesters), ("reviewer", reviewers),
                        ("check", integrations)):
        for name in names:
            out.write(f"{kind} {name} {api_token_create(user=users[name]).key}\\n")
"""

# After the run: what the database holds (parsed as one JSON line).
TALLY = """
import json
import django
django.setup()
from django.db.models import Count
from requests_app.models import AccessRequest, Review
from accessportal.kernel.models import AuditEvent
states = dict(AccessRequest.objects.values_list("state").annotate(n=Count("id")))
print(json.dumps({"requests": states, "reviews": Review.objects.count(),
                  "audit_events": AuditEvent.objects.count()}))
"""


def _run(args: list, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True, **kwargs)


def recreate_database(url: str) -> None:
    import psycopg

    match = re.fullmatch(r"(postgres(?:ql)?://[^/]+)/(\w+)", url)
    if not match:
        sys.exit(f"--database-url must look like postgres://user@host:port/name, not {url!r}")
    server, name = match.groups()
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("gunicorn exited during start-up; see its log")
        try:
            with urllib.request.urlopen(f"{base}/accounts/login/", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    sys.exit("gunicorn did not answer in time")


def stop(process: subprocess.Popen) -> None:
    """Stop gunicorn (its master and workers: one process group) and wait for it."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def clear_broker(url: str, prefix: str) -> None:
    """Remove the jobs the run queued (no worker consumed them): only keys with our prefix."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def parse_wrk(output: str) -> dict:
    line = next((x for x in output.splitlines() if x.startswith("LOADMIX ")), None)
    if line is None:
        sys.exit("wrk printed no LOADMIX summary line:\n" + output)
    return {k: float(v) for k, v in (pair.split("=") for pair in line.split()[1:])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (60)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument("--create-share", type=float, default=0.15, help="creates (0.15)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/ap_load_mixed"
    )
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/2")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args(argv)

    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install -y {tool}")
    gunicorn = PYTHON.parent / "gunicorn"
    if not gunicorn.exists():
        sys.exit("gunicorn is missing: pip install -e '.[dev]'")

    work = Path(tempfile.mkdtemp(prefix="load_mixed-"))
    prefix = f"loadmix-{secrets.token_hex(4)}:"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "accessportal.settings",
        "ACCESSPORTAL_MODE": "development",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": options.database_url,
        "CELERY_BROKER_URL": options.broker_url,
        "CELERY_REDIS_KEY_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        # Raised for this run only: one loopback client would be throttled otherwise.
        "API_THROTTLE_ANON": "100000000/minute",
        "API_THROTTLE_USER": "100000000/minute",
        "API_THROTTLE_AUTH_TOKEN": "100000000/minute",
        "LOAD_TOKENS": str(work / "tokens.txt"),
        "LOAD_CREATE_SHARE": str(options.create_share),
    }
    print(f"== database {options.database_url} (recreated), policy, seed", flush=True)
    recreate_database(options.database_url)
    _run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env)
    (work / "policy.yaml").write_text(POLICY)
    _run(
        [
            PYTHON,
            "-c",
            SETUP,
            work / "policy.yaml",
            work / "tokens.txt",
            ",".join(REQUESTERS),
            ",".join(REVIEWERS),
            ",".join(INTEGRATIONS),
        ],
        env,
    )

    base = f"http://127.0.0.1:{options.port}"
    log = work / "gunicorn.log"
    print(f"== gunicorn, {options.workers} workers, on {base}", flush=True)
    # Django logs to stderr (settings.LOGGING): keep it with gunicorn's own log.
    log_file = log.open("w")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "accessportal.wsgi",
            "--workers",
            str(options.workers),
            "--bind",
            f"127.0.0.1:{options.port}",
            "--error-logfile",
            "-",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one
    )
    try:
        wait_until_up(base, server)
        print(
            f"== wrk: {options.duration}s, {options.threads} threads, "
            f"{options.connections} connections",
            flush=True,
        )
        wrk = subprocess.run(
            [
                "wrk",
                f"-t{options.threads}",
                f"-c{options.connections}",
                f"-d{options.duration}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA),
                base,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        stop(server)
        log_file.close()
        clear_broker(options.broker_url, prefix)
    print(wrk.stdout, end="")
    if wrk.stderr.strip():
        print(wrk.stderr, end="", file=sys.stderr)
    figures = parse_wrk(wrk.stdout)

    print("== after the run: audit chain, database, gunicorn log", flush=True)
    audit = subprocess.run(
        [str(PYTHON), "manage.py", "verify_audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    tally = json.loads(
        _run([PYTHON, "-c", TALLY], env, capture_output=True, text=True).stdout.splitlines()[-1]
    )
    server_log = log.read_text()
    tracebacks = server_log.count("Traceback") + server_log.count("Internal Server Error")
    retries = server_log.count("lost a database conflict")

    seconds = figures["duration_us"] / 1e6
    results = {
        "duration_s": round(seconds, 1),
        "requests": int(figures["requests"]),
        "requests_per_s": round(figures["requests"] / seconds, 1),
        "access_checks": int(figures["checks"]),
        "access_checks_allowed": int(figures["allowed"]),
        "creates": int(figures["creates"]),
        "reviews": int(figures["reviews"]),
        "latency_ms": {
            "mean": round(figures["mean_us"] / 1000, 1),
            "p50": round(figures["p50_us"] / 1000, 1),
            "p90": round(figures["p90_us"] / 1000, 1),
            "p99": round(figures["p99_us"] / 1000, 1),
            "max": round(figures["max_us"] / 1000, 1),
        },
        "errors": {
            "http_4xx_5xx": int(figures["http_errors"]),
            "socket": int(
                figures["connect_errors"]
                + figures["read_errors"]
                + figures["write_errors"]
                + figures["timeouts"]
            ),
            "unrecognised_answers": int(figures["other"]),
            "server_tracebacks": tracebacks,
        },
        "deadlock_retries_logged": retries,
        "audit_chain": audit.stdout.strip().splitlines()[-1] if audit.stdout.strip() else "",
        "audit_chain_ok": audit.returncode == 0,
        "database": tally,
        "setup": {
            "gunicorn_workers": options.workers,
            "wrk_threads": options.threads,
            "wrk_connections": options.connections,
            "create_share": options.create_share,
            "cpus": os.cpu_count(),
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
    }
    # wrk stops reading at the deadline: a request in flight then (at most one per
    # connection) may be done in the database without wrk having counted its answer.
    seeded = len(REQUESTERS) // 2
    stored = sum(tally["requests"].values()) - seeded
    load_reviews = tally["reviews"] - seeded
    in_flight = range(0, options.connections + 1)
    consistent = (
        stored - results["creates"] in in_flight
        and load_reviews - results["reviews"] in in_flight
        # every review approved its request (threshold 1), and only those were approved
        and tally["requests"].get("APPROVED", 0) - seeded == load_reviews
    )
    results["database_matches_wrk"] = consistent
    print(json.dumps(results, indent=2))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n")
    failed = any(results["errors"].values()) or not results["audit_chain_ok"] or not consistent
    if failed:
        print(f"FAILED (gunicorn log kept in {log})", file=sys.stderr)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("OK: zero errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
