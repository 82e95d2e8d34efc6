"""What `python -m bench provisioning` runs against: a PostgreSQL target database of its
own (a group role per target, one login per user), the portal side (users, roles naming
the targets, bulk-loaded requests, grants and assignments) and a real Celery worker.

Everything is named with the `pbench-` prefix and removed afterwards, except the users
(actors of audit events; reused by the next run) and the audit events (append-only).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import kombu.pools
import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql
from psycopg.conninfo import make_conninfo

from accessportal.celery import app as celery_app
from accessportal.kernel.choices import ProvisionState, RequestState
from bench.bulk import analyze, foreign_key_checks_off, load_rows, max_id, reset_sequences
from bench.common import chunks
from bench.seed import GRANT_COLUMNS, REQUEST_COLUMNS, new_uuid, request_row
from policies_app.loader import plan_from_texts
from policies_app.models import ProvisionTarget, Role
from policies_app.services.apply import policies_apply
from policies_app.services.profiles import reviewer_profiles_sync
from requests_app.models import AccessRequest, Grant, ProvisionAssignment
from requests_app.services.publisher import publisher_drain

PREFIX = "pbench-"
MARKER = "bench-provisioning fixture"
DSN_ENV = "PROVISION_BENCH_DSN"
LATENCY_ROLE, RECONCILE_ROLE = f"{PREFIX}latency", f"{PREFIX}reconcile"
ROOT = Path(__file__).resolve().parent.parent
REQ, GRANT = AccessRequest._meta.db_table, Grant._meta.db_table


def server_params() -> dict:
    s = connection.settings_dict
    params = {
        "host": s["HOST"] or "127.0.0.1",
        "port": s["PORT"] or 5432,
        "user": s["USER"] or "postgres",
    }
    if s["PASSWORD"]:
        params["password"] = s["PASSWORD"]
    return params


def database_url() -> str:
    """The URL of the database this process uses (for the worker process)."""
    p = server_params()
    auth = quote(p["user"]) + (":" + quote(p["password"]) if "password" in p else "")
    return f"postgres://{auth}@{p['host']}:{p['port']}/{connection.settings_dict['NAME']}"


class TargetDatabase:
    """A database of its own on the same PostgreSQL server: two group roles (one per
    target) and the users' logins; role names carry a random suffix (they are
    cluster-wide). `drop` removes all of it."""

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:8]
        self.dbname = f"ap_pbench_{self.suffix}"
        self.admin = psycopg.connect(make_conninfo(**server_params(), dbname="postgres"))
        self.admin.autocommit = True
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.dbname)))
        self.groups = {
            LATENCY_ROLE: f"pbench_lat_{self.suffix}",
            RECONCILE_ROLE: f"pbench_rec_{self.suffix}",
        }
        self.logins: list[str] = []
        create = sql.SQL("CREATE ROLE {} NOLOGIN")
        self._run([create.format(sql.Identifier(g)) for g in self.groups.values()])

    @property
    def conninfo(self) -> str:
        return make_conninfo(**server_params(), dbname=self.dbname)

    def login_template(self) -> str:
        return "{username}_" + self.suffix

    def login(self, username: str) -> str:
        return f"{username}_{self.suffix}"

    def _run(self, statements: list) -> None:
        for batch in chunks(statements, 2000):  # one round trip per batch
            self.admin.execute(sql.SQL(";").join(batch))

    def create_logins(self, usernames: list[str]) -> None:
        names = [self.login(u) for u in usernames]
        self._run([sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(n)) for n in names])
        self.logins += names

    def grant(self, group: str, logins: list[str]) -> None:
        for batch in chunks(logins, 1000):
            self.admin.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(group), sql.SQL(", ").join(map(sql.Identifier, batch))
                )
            )

    def revoke(self, group: str, logins: list[str]) -> None:
        for batch in chunks(logins, 1000):
            self.admin.execute(
                sql.SQL("REVOKE {} FROM {}").format(
                    sql.Identifier(group), sql.SQL(", ").join(map(sql.Identifier, batch))
                )
            )

    def members(self, group: str) -> set[str]:
        with psycopg.connect(self.conninfo) as conn:
            rows = conn.execute(
                "SELECT m.rolname FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid "
                "JOIN pg_roles m ON m.oid = am.member WHERE r.rolname = %s",
                (group,),
            ).fetchall()
        return {name for (name,) in rows}

    def drop(self) -> None:
        self.admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.dbname))
        )
        self._run(
            [
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(n))
                for n in [*self.logins, *self.groups.values()]
            ]
        )
        self.admin.close()


def _policy(target: TargetDatabase) -> str:
    def provisioned(role: str) -> str:
        return f"""
kind: role
name: {role}
spec:
  provision:
    - provisioner: postgres
      managed: true
      target:
        {{dsn_env: {DSN_ENV}, role: {target.groups[role]}, login: "{target.login_template()}"}}
"""

    return f"""{provisioned(LATENCY_ROLE)}
---
{provisioned(RECONCILE_ROLE)}
---
kind: role
name: {PREFIX}requester
spec:
  allow:
    request: {{roles: [{LATENCY_ROLE}]}}
---
kind: role
name: {PREFIX}reviewer
spec:
  allow:
    review_requests: {{roles: [{LATENCY_ROLE}]}}
"""


def users(count: int) -> list[int]:
    """Ids of `pbench-u00000`... (made when missing; kept between runs)."""
    User = get_user_model()
    names = [f"{PREFIX}u{k:05d}" for k in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        [User(username=n) for n in names if n not in existing], batch_size=5000
    )
    ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    return [ids[n] for n in names]


def portal_setup(target: TargetDatabase, requesters: list[int]) -> dict:
    """The policy (roles naming the two targets), the requesters' and the approver's
    memberships; returns {"targets": {role: target id}, "approver": user}."""
    os.environ[DSN_ENV] = target.conninfo
    policies_apply(plan=plan_from_texts([("pbench.yaml", _policy(target))]))
    approver = get_user_model().objects.get_or_create(username=f"{PREFIX}approver")[0]
    through = Role.members.through
    roles = dict(Role.objects.filter(name__startswith=PREFIX).values_list("name", "pk"))
    with transaction.atomic():
        through.objects.bulk_create(
            [through(role_id=roles[f"{PREFIX}reviewer"], user_id=approver.pk)]
            + [through(role_id=roles[f"{PREFIX}requester"], user_id=u) for u in requesters],
            batch_size=5000,
        )
        reviewer_profiles_sync(user_ids=[approver.pk, *requesters])
    targets = {
        role: ProvisionTarget.objects.get(roles__contains=[role], retired_at=None).pk
        for role in (LATENCY_ROLE, RECONCILE_ROLE)
    }
    return {"targets": targets, "approver": approver}


def seed_open_grants(target: TargetDatabase, target_id: int, user_ids: list[int]) -> None:
    """One approved request with an open, activated grant of the reconcile role per user,
    an APPLIED assignment each, and each login a member of the group role (bulk loads)."""
    rng = random.Random(16)
    now = timezone.now()
    start, end = now - timedelta(minutes=5), now + timedelta(hours=8)
    User = get_user_model()
    names = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
    requests, grants = [], []
    grant_id = max_id(GRANT) + 1
    for uid in user_ids:
        rid = new_uuid(rng)
        requests.append(
            request_row(
                rid=rid, user_id=uid, team=0, roles=[RECONCILE_ROLE], resources=[],
                state=RequestState.APPROVED, created=start, expires=start + timedelta(days=1),
                access=(start, end), resolved=(start, None, "ok"), reason=MARKER,
            )
        )  # fmt: skip
        grants.append(
            (grant_id, rid, uid, RECONCILE_ROLE, "", start, end, None, None, start, start)
        )
        grant_id += 1
    with foreign_key_checks_off():
        load_rows(REQ, REQUEST_COLUMNS, requests)
        load_rows(GRANT, GRANT_COLUMNS, grants)
    reset_sequences([Grant])
    ProvisionAssignment.objects.bulk_create(
        [
            ProvisionAssignment(
                user_id=uid, target_id=target_id, desired=True, state=ProvisionState.APPLIED,
                account=target.login(names[uid]), next_attempt_at=now, applied_at=now,
                created=now,
            )
            for uid in user_ids
        ],
        batch_size=5000,
    )  # fmt: skip
    target.grant(target.groups[RECONCILE_ROLE], [target.login(names[u]) for u in user_ids])
    analyze([REQ, GRANT, ProvisionAssignment._meta.db_table])


def portal_teardown() -> None:
    """Remove the fixture's rows (not its users nor the audit events)."""
    from bench.common import requests_delete

    targets = ProvisionTarget.objects.filter(label__contains="pbench_")
    with transaction.atomic():
        ProvisionAssignment.objects.filter(target__in=targets).delete()
        requests_delete(AccessRequest.objects.filter(user__username__startswith=PREFIX))
        targets.delete()
        Role.objects.filter(name__startswith=PREFIX).delete()
        reviewer_profiles_sync(
            user_ids=get_user_model()
            .objects.filter(username__startswith=PREFIX)
            .values_list("pk", flat=True)
        )
    os.environ.pop(DSN_ENV, None)


def _reset_producers() -> None:
    publisher_drain(30)  # what was queued goes to the broker it was meant for
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def broker_switch(url: str, prefix: str = ""):
    """Publish from this process to `url` (under the key `prefix`), tasks not eager; returns
    the function that puts the previous broker back."""
    conf = celery_app.conf
    saved = (os.environ.get("CELERY_BROKER_URL"), conf.broker_url, conf.task_always_eager,
             conf.broker_transport_options)  # fmt: skip
    _reset_producers()
    # Celery reads the variable before its own setting (bench/settings.py sets it).
    os.environ["CELERY_BROKER_URL"] = conf.broker_url = url
    conf.task_always_eager = False
    conf.broker_transport_options = settings.REDIS_BROKER_TRANSPORT_OPTIONS | {
        "global_keyprefix": prefix
    }

    def restore() -> None:
        _reset_producers()
        variable, conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved
        if variable is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = variable

    return restore


class Worker:
    """`celery -A bench.worker worker` (every queue, 2 threads, as the tests' worker) on a
    real broker under a key prefix of its own; this process publishes there meanwhile."""

    def __init__(self, broker_url: str, workdir: Path) -> None:
        self.broker_url = broker_url
        self.prefix = f"pbench-{uuid.uuid4().hex[:8]}:"
        self.log_path = workdir / f"bench-worker-{self.prefix[7:-1]}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_REDIS_KEY_PREFIX": self.prefix,
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "bench.worker", "worker", "--pool=threads",
            "--concurrency=2", "--loglevel=INFO", "--without-mingle", "--without-gossip",
            f"--hostname=pbench-{uuid.uuid4().hex[:8]}@%h",
        ]  # fmt: skip
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while " ready." not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the bench worker did not start:\n{self.output()}")
            time.sleep(0.1)
        self._restore = broker_switch(broker_url, self.prefix)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        self.log.close()
        restore, self._restore = getattr(self, "_restore", None), None
        if restore is not None:
            restore()
        import redis

        client = redis.Redis.from_url(self.broker_url)
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
