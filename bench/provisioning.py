"""Provisioning (issue 16): latency from an approval's commit to "applied" in a real
PostgreSQL role, and reconciling 10,000 open grants against that real target.

(a) Latency. A real Celery worker process (`bench/worker.py`: every queue, 2 threads) on a
real Redis broker. Each iteration approves one request (a user of its own, so every
approval makes one new member) and waits until the worker has granted the role; the
latency is from the approval's COMMIT (an on-commit hook registered before the review's
own) to the assignment's `applied_at` (the worker's clock after the GRANT returned). The
floor, alternating call by call in the same run: `bench.noop` committed and published the
same way to the same queue of the same worker, from COMMIT to the moment it ran.

(b) Reconciliation. 10,000 users, each with an open, activated grant of a role naming a
`managed` PostgreSQL target, an APPLIED assignment and a login that is a member of the
group role (bulk loaded; the time is reported). `provision_reconcile_target` is timed with
nothing to do, and with 1% drift (50 members revoked by hand, 50 logins nobody in the portal
owns granted by hand). The floor, in the same run: the provisioner's own `pg_auth_members`
query on an open connection plus the desired-members selector (the two reads any
reconcile needs). Five rounds, medians. After each drift round the 50 re-queued
assignments are run inline (the workers' part: one GRANT each), also timed.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
import redis
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg import sql

from accessportal.kernel.choices import ProvisionState
from accessportal.provisioners import postgres as pg_provisioner
from bench import provisioning_fixture as fx
from bench.common import Report, ratio, summary_ms
from bench.worker import noop
from policies_app.models import ProvisionTarget
from requests_app.models import ProvisionAssignment
from requests_app.selectors.provisioning import desired_members_of_target
from requests_app.services.access_requests import access_request_create
from requests_app.services.provisioning.reconcile import provision_reconcile_target
from requests_app.services.provisioning.worker import provision_run
from requests_app.services.publisher import publish_with_deadline
from requests_app.services.reviews import review_submit

WAIT = 30  # seconds any one approval may take before the run is called broken
DRIFT = 0.01


def run(args) -> Report:
    if args.quick:
        return measure(approvals=10, grants=200, rounds=1, warmup=2)
    return measure()


def _broker_url() -> str:
    """The worker's broker: BENCH_PROVISION_BROKER_URL, else BENCH_CELERY_BROKER_URL, else
    the local Redis (database 0; the run's keys carry a prefix of their own, removed after)."""
    return (
        os.environ.get("BENCH_PROVISION_BROKER_URL")
        or os.environ.get("BENCH_CELERY_BROKER_URL")
        or "redis://127.0.0.1:6379/0"
    )


def measure(
    *, approvals: int = 200, grants: int = 10_000, rounds: int = 5, warmup: int = 5,
    broker_url: str | None = None,
) -> Report:  # fmt: skip
    if connection.vendor != "postgresql":
        raise SystemExit("the provisioning benchmark needs PostgreSQL (DATABASE_URL)")
    broker_url = broker_url or _broker_url()
    report = Report(
        "provisioning",
        params={"approvals": approvals, "warmup": warmup, "grants": grants, "rounds": rounds,
                "drift": DRIFT, "broker": broker_url.rsplit("@", 1)[-1]},
        header=["measure", "p50 / median ms", "p99 / max ms", "queries (app DB)",
                "target calls", "ratio to floor"],
    )  # fmt: skip
    fx.portal_teardown()
    target = fx.TargetDatabase()
    try:
        seeding, setup = _seed(target, approvals + warmup, grants)
        report.results["seeding_s"] = seeding
        report.notes.append(
            "seeding: " + ", ".join(f"{k.replace('_s', '')} {v:.2f} s" for k, v in seeding.items())
        )
        _latency(report, target, setup, warmup, broker_url)
        _reconcile(report, target, setup, grants, rounds)
    finally:
        fx.portal_teardown()
        target.drop()
    return report


def _seed(target: fx.TargetDatabase, requesters: int, grants: int) -> tuple[dict, dict]:
    from django.contrib.auth import get_user_model

    out = {}
    start = time.perf_counter()
    ids = fx.users(requesters + grants)
    out["users_s"] = round(time.perf_counter() - start, 2)
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    start = time.perf_counter()
    target.create_logins([names[i] for i in ids])
    out["logins_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    setup = fx.portal_setup(target, ids[:requesters])
    out["policy_and_memberships_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    fx.seed_open_grants(target, setup["targets"][fx.RECONCILE_ROLE], ids[requesters:])
    out["grants_assignments_members_s"] = round(time.perf_counter() - start, 2)
    return out, setup | {"requesters": ids[:requesters], "members": ids[requesters:]}


# (a) latency ------------------------------------------------------------------------------


def _committed(work) -> float:
    """Run `work` in a transaction; the wall-clock time of its COMMIT."""
    stamp: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: stamp.append(time.time()))  # before the work's hooks
        work()
    return stamp[0]


def _noop_once(client: redis.Redis, key: str, worker: fx.Worker) -> float:
    committed = _committed(
        lambda: transaction.on_commit(
            lambda: publish_with_deadline(
                lambda: noop.apply_async(kwargs={"key": key}, queue="provision"), "bench.noop"
            )
        )
    )
    try:
        popped = client.blpop([key], timeout=WAIT)
    except redis.TimeoutError:
        popped = None
    if popped is None:
        raise RuntimeError(f"bench.noop did not run; worker log:\n{worker.output()}")
    return float(popped[1]) - committed


def _approval_once(requester, approver, target_id: int, worker: fx.Worker) -> tuple[float, ...]:
    """(commit -> applied_at, commit -> APPLIED seen by polling every 3 ms, review_submit)."""
    request = access_request_create(requester=requester, roles=[fx.LATENCY_ROLE], reason="bench")
    start = time.perf_counter()
    committed = _committed(
        lambda: review_submit(request_id=request.id, reviewer=approver, state="APPROVED")
    )
    approve_s = time.perf_counter() - start
    row = ProvisionAssignment.objects.filter(user=requester, target_id=target_id)
    deadline = time.monotonic() + WAIT
    while True:
        found = row.values_list("state", "applied_at").first()
        if found and found[0] == ProvisionState.APPLIED:
            return found[1].timestamp() - committed, time.time() - committed, approve_s
        if found and found[0] == ProvisionState.FAILED:
            raise RuntimeError(f"provisioning failed: {row.values_list('last_error')[0][0]}")
        if time.monotonic() > deadline or worker.process.poll() is not None:
            raise RuntimeError(f"not applied within {WAIT} s; worker log:\n{worker.output()}")
        time.sleep(0.003)


def _latency(report, target, setup: dict, warmup: int, broker_url: str) -> None:
    from django.contrib.auth import get_user_model

    target_id = setup["targets"][fx.LATENCY_ROLE]
    requesters = list(get_user_model().objects.filter(pk__in=setup["requesters"]).order_by("pk"))
    client = redis.Redis.from_url(broker_url, socket_timeout=WAIT + 5)
    with tempfile.TemporaryDirectory() as workdir:
        worker = fx.Worker(broker_url, Path(workdir))
        try:
            floor, subject, seen, approve = [], [], [], []
            for i, requester in enumerate(requesters):
                key = f"{worker.prefix}noop"
                f = _noop_once(client, key, worker)
                s, v, a = _approval_once(requester, setup["approver"], target_id, worker)
                if i >= warmup:
                    floor.append(f)
                    subject.append(s)
                    seen.append(v)
                    approve.append(a)
        finally:
            worker.stop()
            client.close()
        ran = _task_runtimes(worker.log_path.read_text(errors="replace"))
    members = target.members(target.groups[fx.LATENCY_ROLE])
    if members != {target.login(u.username) for u in requesters}:
        raise RuntimeError("the target's members are not the approved users")
    f, s, a, v = summary_ms(floor), summary_ms(subject), summary_ms(approve), summary_ms(seen)
    report.results["latency"] = {
        "floor_noop_task": f,
        # to `applied_at`: the worker's clock once GRANT returned (the login is a member)
        "approval_to_applied": s,
        # to the poll (every 3 ms) seeing APPLIED: the outcome recorded and audited
        "approval_to_recorded": v,
        "review_submit": a,
        "ratio_p50": ratio(s["p50_ms"], f["p50_ms"]),
        "ratio_p99": ratio(s["p99_ms"], f["p99_ms"]),
        "members_in_target": len(members),
        # Celery's own "succeeded in" of each task, warm-up left out: the task's run, the
        # rest of the latency is publishing, the broker and the worker picking it up
        "task_run": {name: summary_ms(times[warmup:]) for name, times in ran.items()},
    }
    runs = report.results["latency"]["task_run"]
    report.notes.append(
        "task run (Celery's 'succeeded in'), p50: provision_assignment "
        f"{runs['provision_assignment']['p50_ms']} ms, bench.noop {runs['noop']['p50_ms']} ms"
    )
    report.rows += [
        ["floor: no-op task, commit -> ran", f["p50_ms"], f["p99_ms"], "", "", 1.0],
        ["approval commit -> applied (GRANT done)", s["p50_ms"], s["p99_ms"], "", 1,
         ratio(s["p50_ms"], f["p50_ms"])],
        ["approval commit -> APPLIED recorded", v["p50_ms"], v["p99_ms"], "", 1,
         ratio(v["p50_ms"], f["p50_ms"])],
        ["(review_submit itself)", a["p50_ms"], a["p99_ms"], "", "", ""],
    ]  # fmt: skip


_SUCCEEDED = re.compile(
    r"(provision_assignment|bench\.noop)\[[^\]]+\] succeeded in ([0-9.e-]+)s: ('applied'|None)"
)


def _task_runtimes(log: str) -> dict[str, list[float]]:
    """Seconds each provision_assignment and bench.noop ran, in order, from the worker log."""
    out: dict[str, list[float]] = {"provision_assignment": [], "noop": []}
    for name, seconds, _ in _SUCCEEDED.findall(log):
        out["noop" if name == "bench.noop" else name].append(float(seconds))
    return out


# (b) reconciliation -------------------------------------------------------------------------


class _Calls:
    """Counts the PostgreSQL provisioner's calls to the target (each opens a connection)."""

    def __init__(self) -> None:
        self.count = 0
        self._saved = {}

    def __enter__(self):
        cls = pg_provisioner.PostgresProvisioner
        for name in ("members", "grant", "revoke"):
            original = getattr(cls, name)
            self._saved[name] = original

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            setattr(cls, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._saved.items():
            setattr(pg_provisioner.PostgresProvisioner, name, original)


def _timed_reconcile(target_id: int) -> dict:
    with _Calls() as calls, CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        repairs = provision_reconcile_target(target_id=target_id)
        took = time.perf_counter() - start
    return {"s": took, "queries": len(queries.captured_queries), "calls": calls.count,
            "repairs": repairs}  # fmt: skip


def _floor(target: fx.TargetDatabase, target_row: ProvisionTarget) -> tuple[float, int]:
    with psycopg.connect(target.conninfo) as conn:
        conn.execute("SELECT 1")
        start = time.perf_counter()
        rows = conn.execute(pg_provisioner._MEMBERS, (target.groups[fx.RECONCILE_ROLE],)).fetchall()
        desired = desired_members_of_target(target_row, timezone.now())
        took = time.perf_counter() - start
    if len(rows) != len(desired):
        raise RuntimeError(f"{len(rows)} members in the target, {len(desired)} desired")
    return took, len(rows)


def _drift(target: fx.TargetDatabase, members: list[int], count: int) -> list[str]:
    """Revoke `count // 2` members by hand; grant `count - count // 2` outsiders by hand."""
    from django.contrib.auth import get_user_model

    group = target.groups[fx.RECONCILE_ROLE]
    taken = get_user_model().objects.filter(pk__in=members[: count // 2])
    target.revoke(group, [target.login(u.username) for u in taken])
    outsiders = [f"pbench_x{k:05d}_{target.suffix}" for k in range(count - count // 2)]
    if outsiders[0] not in target.logins:
        target.admin.execute(
            sql.SQL(";").join(
                sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(n)) for n in outsiders
            )
        )
        target.logins += outsiders
    target.grant(group, outsiders)
    return outsiders


def _settle(target_id: int) -> tuple[float, int]:
    """Run the re-queued assignments inline, as the workers would (one GRANT each)."""
    pending = list(
        ProvisionAssignment.objects.filter(
            target_id=target_id, state=ProvisionState.PENDING
        ).values_list("pk", flat=True)
    )
    start = time.perf_counter()
    for pk in pending:
        if provision_run(assignment_id=pk) != "applied":
            raise RuntimeError(f"assignment {pk} was not applied again")
    return time.perf_counter() - start, len(pending)


def _reconcile(report, target: fx.TargetDatabase, setup: dict, grants: int, rounds: int) -> None:
    target_id = setup["targets"][fx.RECONCILE_ROLE]
    target_row = ProvisionTarget.objects.get(pk=target_id)
    drift = max(2, round(grants * DRIFT))
    restore = fx.broker_switch("memory://")  # re-queued work is published, not run here
    floors, clean, drifted, settle = [], [], [], []
    try:
        for _ in range(rounds):
            floors.append(_floor(target, target_row)[0])
            clean.append(_timed_reconcile(target_id))
            if clean[-1]["repairs"]:
                raise RuntimeError(f"a clean reconcile repaired {clean[-1]['repairs']}")
            _drift(target, setup["members"], drift)
            drifted.append(_timed_reconcile(target_id))
            if drifted[-1]["repairs"] != drift:
                raise RuntimeError(f"{drifted[-1]['repairs']} repairs for {drift} drifted")
            settle.append(_settle(target_id))
    finally:
        restore()
    floor = statistics.median(floors)
    entries = {}
    for name, runs in (("nothing_to_do", clean), ("drift_1_percent", drifted)):
        secs = [r["s"] for r in runs]
        entries[name] = {
            "median_ms": round(statistics.median(secs) * 1000, 1),
            "max_ms": round(max(secs) * 1000, 1),
            "queries": runs[-1]["queries"],
            "target_calls": runs[-1]["calls"],
            "repairs": runs[-1]["repairs"],
            "ratio_to_floor": ratio(statistics.median(secs), floor),
        }
    settle_s = statistics.median(s for s, _ in settle)
    report.results["reconcile"] = {
        "open_grants": grants,
        "floor_ms": round(floor * 1000, 1),
        **entries,
        "workers_regrant_ms": round(settle_s * 1000, 1),
        "workers_regrant_assignments": settle[-1][1],
    }
    report.rows += [
        [f"floor: members + desired ({grants:,})", round(floor * 1000, 1),
         round(max(floors) * 1000, 1), 2, 1, 1.0],
    ]  # fmt: skip
    for name, e in entries.items():
        report.rows.append(
            [f"reconcile, {name.replace('_', ' ')}", e["median_ms"], e["max_ms"], e["queries"],
             e["target_calls"], e["ratio_to_floor"]]
        )  # fmt: skip
    report.rows.append(
        [f"workers re-grant {settle[-1][1]} (inline)", round(settle_s * 1000, 1), "", "",
         settle[-1][1], ""]
    )  # fmt: skip
