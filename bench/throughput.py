"""API throughput under gunicorn with wrk on loopback, each endpoint against the bare view.

Endpoints: the access check (an integration account asking about a user), creating a
request, submitting a review (each review goes to a different pending request, which it
approves: grants, audit, notifications), and listing `needs_review` for the reviewer with
the longest history. Each is run in three rounds alternating with the bare DRF view (same
authentication, same server), and the medians are compared. Queries per call are counted
in-process for each endpoint.

Requests and reviews written by the run are removed afterwards (audit events stay).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from bench import cpu_split
from bench.bulk import foreign_key_checks_off, load_rows
from bench.common import Report, count_queries, ratio, requests_delete
from bench.seed import (
    GROUP_PERM_COLUMNS,
    INTEGRATION,
    PERM_COLUMNS,
    REQUEST_COLUMNS,
    new_uuid,
    permission_ids,
    request_row,
    requester_index,
    reviewer_indexes,
    username,
)
from bench.seed import Shape as SeedShape
from bench.server import THREADS, WORKERS, Served, gunicorn, wrk_available
from policies_app.models import Role
from requests_app.models import (
    AccessRequest,
    AccessRequestGroupObjectPermission,
    AccessRequestUserObjectPermission,
    Grant,
)

MARKER = "bench-throughput"
TARGET_ACCESS = 0.70  # HTTP access check at least 70% of the bare view's throughput
CONNECTIONS = 8
SETTLE_SECONDS = 1.5
# A run where one of the two workers did less than this share of the work is repeated.
MIN_WORKER_SHARE = 0.3
SKEW_RETRIES = 3


def _team_shape() -> SeedShape:
    teams = Role.objects.filter(name__startswith="team-").count()
    if not teams:
        raise SystemExit("seed the database first: python -m bench seed")
    users = get_user_model().objects.filter(username__startswith="bench-u").count()
    return SeedShape(teams=teams, users=users, resources=0, requests=0, grants=0)


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def _add_pending(team: int, count: int, shape: SeedShape, requester_id: int, reviewer_ids):
    """`count` PENDING requests of `team` with their guardian rows, as the service makes them."""
    rng = random.Random(88)
    view, review = permission_ids()
    now = timezone.now()
    rows, perms, group_perms, ids = [], [], [], []
    # The team's reviewers share one reviewer profile group: the rows go to it.
    group = (
        get_user_model()
        .groups.through.objects.filter(
            user_id=list(reviewer_ids)[0], group__reviewer_profile__isnull=False
        )
        .values_list("group_id", flat=True)
        .get()
    )
    for n in range(count):
        rid = new_uuid(rng)
        ids.append(rid)
        created = now - timedelta(minutes=5)
        rows.append(
            request_row(
                rid=rid, user_id=requester_id, team=team, roles=[f"svc-{team}-{1 + n % 7}"],
                resources=[], state="PENDING", created=created,
                expires=created + timedelta(days=1), reason=MARKER,
            )
        )  # fmt: skip
        perms.append((rid, view, requester_id))
        group_perms += [(rid, view, group), (rid, review, group)]
    with foreign_key_checks_off():
        load_rows(AccessRequest._meta.db_table, REQUEST_COLUMNS, rows)
        load_rows(AccessRequestUserObjectPermission._meta.db_table, PERM_COLUMNS, perms)
        load_rows(
            AccessRequestGroupObjectPermission._meta.db_table, GROUP_PERM_COLUMNS, group_perms
        )
    return ids


def remove_written() -> None:
    requests = AccessRequest.objects.filter(reason=MARKER)
    requests_delete(requests)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return round(float(match.group(1)) * _UNITS[match.group(2)], 3) if match else float("nan")


def parse_wrk(output: str) -> dict:
    """Requests/sec, latency percentiles, errors and non-2xx responses from wrk's report."""
    out: dict = {"non_2xx": 0, "socket_errors": 0}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        out["requests_per_second"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in", output):
        out["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", output, re.M):
            out[f"p{pct}_ms"] = _ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output):
        out["non_2xx"] = int(m.group(1))
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        out["socket_errors"] = sum(int(x) for x in m.groups())
    return out


def _lua(token: str, method: str = "GET", body: dict | None = None, paths=None) -> str:
    lines = [
        f'wrk.method = "{method}"',
        f'wrk.headers["Authorization"] = "Token {token}"',
        'wrk.headers["Accept"] = "application/json"',
    ]
    if body is not None:
        lines += [
            f"wrk.body = {json.dumps(json.dumps(body))}",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    if paths:
        lines.append("local paths = {" + ", ".join(json.dumps(p) for p in paths) + "}")
        lines += [
            "local i = 0",
            "request = function()",
            "  i = i + 1",
            "  return wrk.format(nil, paths[((i - 1) % #paths) + 1])",
            "end",
        ]
    return "\n".join(lines) + "\n"


def run_wrk(host: str, port: int, path: str, script: str, duration: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        lua = f.name
    try:
        result = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "-s", lua,
             f"http://{host}:{port}{path}"],
            capture_output=True, text=True, timeout=duration + 60, check=True,
        )  # fmt: skip
    finally:
        Path(lua).unlink(missing_ok=True)
    return parse_wrk(result.stdout)


def balanced_wrk(server: Served, target, duration: int) -> dict:
    """`run_wrk`, run again (up to SKEW_RETRIES times) when one worker did most of the work.

    wrk's keep-alive connections stay with the gunicorn worker that accepted them, and
    now and then every one of them lands on the same worker: that run measures one
    process on one core, about half the throughput (seen on either side of a ratio, in
    runs after runs). Such a run is detected from the workers' CPU time and repeated; the
    result records how many runs were dropped. `target()` gives (path, wrk script) for
    each run: a repeated run of reviews needs pending requests of its own.
    """
    for attempt in range(SKEW_RETRIES + 1):
        time.sleep(SETTLE_SECONDS)  # the previous run's calls finish first
        with cpu_split.measured(server.pid) as split:
            result = run_wrk(server.host, server.port, *target(), duration)
        result["cpu_ms_per_call"] = cpu_split.per_call(split, result.get("requests", 0))
        result["machine_busy"] = split["machine_busy"]
        result["backends"] = split["backends"]
        used = list(split["web_ticks_by_pid"].values())
        share = min(used) / sum(used) if used and sum(used) else 1.0
        result["busiest_worker_share"] = round(1 - share, 2) if len(used) > 1 else 1.0
        result["skewed_runs_dropped"] = attempt
        if len(used) < 2 or share >= MIN_WORKER_SHARE:
            break
    return result


def _query_counts(tokens: dict, paths: dict, review_target) -> dict:
    """Queries per call of each endpoint, counted in-process through the Django stack."""

    def client(name: str) -> DjangoClient:
        return DjangoClient(HTTP_AUTHORIZATION=f"Token {tokens[name]}")

    def ok(response) -> None:
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")

    out = {
        "bare": count_queries(lambda: ok(client("integration").get("/api/v1/bench/bare/"))),
        # The first check of a caller reads their role permissions and records the grant's
        # use; the steady state (what the runs measure) does neither.
        "access_check_first": count_queries(lambda: ok(client("integration").get(paths["check"]))),
        "access_check": count_queries(lambda: ok(client("integration").get(paths["check"]))),
        "create_request": count_queries(
            lambda: ok(
                client("requester").post(
                    "/api/v1/requests/", paths["create_body"], content_type="application/json"
                )
            )
        ),
        "submit_review": count_queries(
            lambda: ok(
                client("reviewer").post(
                    f"/api/v1/requests/{review_target}/reviews/",
                    {"state": "APPROVED", "reason": "ok"},
                    content_type="application/json",
                )
            )
        ),
        "needs_review": count_queries(lambda: ok(client("lister").get(paths["needs_review"]))),
        "needs_review_small_history": count_queries(
            lambda: ok(client("lister_small").get(paths["needs_review"]))
        ),
    }
    return out


def _cpu_ratio(bare: dict, endpoint: dict) -> float | None:
    """The bare view's CPU per call (web + database) over the endpoint's: the throughput
    ratio a saturated machine would give if CPU were all that limited it."""
    totals = []
    for run in (bare, endpoint):
        split = run.get("cpu_ms_per_call") or {}
        if None in split.values() or not split:
            return None
        totals.append(sum(split.values()))
    return ratio(totals[0], totals[1]) if totals[1] else None


def _cpu_text(split: dict | None) -> str:
    if not split:
        return ""
    return "+".join("?" if v is None else f"{v:.2f}" for v in (split["web"], split["database"]))


def _median_run(runs: list[dict]) -> dict:
    """The run with the median throughput (its latencies with it); errors of every run."""
    ordered = sorted(runs, key=lambda r: r.get("requests_per_second", 0))
    median = dict(ordered[len(ordered) // 2])
    median["non_2xx"] = sum(r["non_2xx"] for r in runs)
    median["socket_errors"] = sum(r["socket_errors"] for r in runs)
    return median


def measure(*, duration: int, rounds: int = 3) -> Report:
    if not wrk_available():
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    if connection.vendor != "postgresql":
        raise SystemExit("the throughput benchmark needs PostgreSQL")
    remove_written()
    shape = _team_shape()
    User = get_user_model()
    team = shape.teams - 1  # the smallest history: its writes disturb nobody's queue
    requester = User.objects.get(username=username(requester_index(team, 0, shape)))
    reviewer_users = list(
        User.objects.filter(username__in=[username(i) for i in reviewer_indexes(team, shape)])
    )
    reviewer = reviewer_users[0]
    lister = User.objects.get(username=username(reviewer_indexes(0, shape)[0]))
    lister_small = User.objects.get(username=username(reviewer_indexes(team, shape)[0]))
    checked = Grant.objects.exclude(role="").order_by("-id").values_list("user_id", "role")[0]
    checked_user = User.objects.get(pk=checked[0]).username
    tokens = {
        "integration": _token(User.objects.get(username=INTEGRATION)),
        "requester": _token(requester),
        "reviewer": _token(reviewer),
        "lister": _token(lister),
        "lister_small": _token(lister_small),
    }
    paths = {
        "check": f"/api/v1/access/check/?user={checked_user}&role={checked[1]}",
        "create_body": {"roles": [f"svc-{team}-1"], "reason": MARKER},
        "needs_review": "/api/v1/requests/?scope=needs_review",
    }
    # Pending requests for the reviews: enough for every run, repeated runs included.
    per_run = max(200, duration * 100)
    to_review = _add_pending(
        team, 1 + rounds * (SKEW_RETRIES + 1) * per_run, shape, requester.pk,
        [u.pk for u in reviewer_users],
    )  # fmt: skip
    review_paths = [f"/api/v1/requests/{rid}/reviews/" for rid in to_review[1:]]
    review_runs = itertools.count()

    def reviews() -> tuple[str, str]:
        """The next run's reviews: each run approves pending requests of its own."""
        start = next(review_runs) * per_run
        mine = review_paths[start : start + per_run]
        body = {"state": "APPROVED", "reason": "ok"}
        return mine[0], _lua(tokens["reviewer"], "POST", body, mine)

    scenarios = {
        "access_check": lambda: (paths["check"], _lua(tokens["integration"])),
        "create_request": lambda: (
            "/api/v1/requests/",
            _lua(tokens["requester"], "POST", paths["create_body"]),
        ),
        "submit_review": reviews,
        "needs_review": lambda: (paths["needs_review"], _lua(tokens["lister"])),
    }
    bare_script = _lua(tokens["integration"])

    def bare_target() -> tuple[str, str]:
        return "/api/v1/bench/bare/", bare_script

    results: dict = {}
    try:
        queries = _query_counts(tokens, paths, to_review[0])
        with gunicorn() as server:
            run_wrk(*server, "/api/v1/bench/bare/", bare_script, 2)  # warm up the workers
            for name, scenario in scenarios.items():
                # Alternating rounds, medians kept; runs that one worker did alone are
                # repeated (balanced_wrk).
                pairs = [
                    (
                        balanced_wrk(server, bare_target, duration),
                        balanced_wrk(server, scenario, duration),
                    )
                    for _ in range(rounds)
                ]
                bare, endpoint = (
                    _median_run([b for b, _ in pairs]),
                    _median_run([e for _, e in pairs]),
                )
                results[name] = {
                    "endpoint": endpoint,
                    "bare": bare,
                    "ratio": ratio(
                        endpoint.get("requests_per_second", 0), bare.get("requests_per_second", 0)
                    ),
                    "rounds": [
                        {
                            "bare_rps": b.get("requests_per_second"),
                            "endpoint_rps": e.get("requests_per_second"),
                            "skewed_runs_dropped": b["skewed_runs_dropped"]
                            + e["skewed_runs_dropped"],
                        }
                        for b, e in pairs
                    ],
                    "queries": queries[name],
                    # Where the time goes (bench/cpu_split.py): CPU per call of the web
                    # workers and the database server; when the machine is saturated the
                    # throughput ratio follows the inverse ratio of the total CPU per call.
                    "cpu_ms_per_call": endpoint.get("cpu_ms_per_call"),
                    "bare_cpu_ms_per_call": bare.get("cpu_ms_per_call"),
                    "cpu_ratio": _cpu_ratio(bare, endpoint),
                    "machine_busy": endpoint.get("machine_busy"),
                    "backends": endpoint.get("backends"),
                }
    finally:
        remove_written()

    report = Report("throughput")
    report.params = {
        "duration_seconds": duration,
        "rounds": rounds,
        "wrk": f"-t1 -c{CONNECTIONS}",
        "gunicorn": f"{WORKERS} workers, gthread x {THREADS} threads, keep-alive",
        "bare_queries": queries["bare"],
    }
    report.results = {
        "endpoints": results,
        "queries": queries,
        "targets": {
            "access_check_vs_bare": results["access_check"]["ratio"],
            "access_check_at_least_70pct": results["access_check"]["ratio"] >= TARGET_ACCESS,
            "all_responses_2xx": all(
                r["endpoint"]["non_2xx"] == 0 and r["bare"]["non_2xx"] == 0
                for r in results.values()
            ),
            "needs_review_queries_same_for_any_history": queries["needs_review"]
            == queries["needs_review_small_history"],
        },
    }
    report.header = ["endpoint", "req/s", "p50 ms", "p99 ms", "bare req/s", "ratio", "queries",
                     "non-2xx", "CPU ms/call web+db", "bare CPU ms/call", "CPU ratio",
                     "lock waits", "idle in tx"]  # fmt: skip
    for name, r in results.items():
        e, b = r["endpoint"], r["bare"]
        report.rows.append(
            [
                name,
                e.get("requests_per_second"),
                e.get("p50_ms"),
                e.get("p99_ms"),
                b.get("requests_per_second"),
                r["ratio"],
                r["queries"],
                e["non_2xx"],
                _cpu_text(r["cpu_ms_per_call"]),
                _cpu_text(r["bare_cpu_ms_per_call"]),
                r["cpu_ratio"],
                (r["backends"] or {}).get("waiting_on_lock"),
                (r["backends"] or {}).get("idle_in_transaction"),
            ]  # fmt: skip
        )
    t = report.results["targets"]
    report.notes.append(
        f"target: HTTP access check >= {TARGET_ACCESS:.0%} of the bare view: "
        f"{t['access_check_vs_bare']:.0%} -> "
        f"{'met' if t['access_check_at_least_70pct'] else 'MISSED'}; bare view: "
        f"{queries['bare']} query per call"
    )
    return report


def run(args) -> Report:
    return measure(duration=2 if args.quick else args.duration, rounds=1 if args.quick else 3)
