"""Issue 16 end to end: approving a request puts the user into a real PostgreSQL role and a
real LDAP group, revocation and expiry take them out, a member added by hand is removed by
the next reconcile, and a target that is down blocks nothing and catches up.

Everything real: a Celery worker process with beat (tests/worker_support.py) against the
test database, Redis as the broker, a database of the test's own on the local PostgreSQL
server (group role and logins created here, dropped after), and a private slapd. Waits
poll until a deadline; nothing here is timed.
"""

from __future__ import annotations

import time
import uuid

import ldap3
import pytest
from django.utils import timezone
from psycopg import sql

from accessportal.kernel.choices import AuditAction
from accessportal.kernel.models import AuditEvent
from requests_app import tasks
from requests_app.models import Grant
from requests_app.selectors.provisioning import grant_status, grants_provisioning
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit
from tests.postgres_server import ScratchDatabase
from tests.provisioners.slapd import (
    NAMES_GROUP,
    PASSWORD_ENV,
    PLACEHOLDER,
    PROVISIONER_DN,
    Slapd,
    slapd_or_skip,
    user_dn,
)
from tests.worker_support import REDIS_URL, WorkerProcess, broker, delete_broker_keys

# `postgres`: the app database must be PostgreSQL (the worker process shares it).
pytestmark = [pytest.mark.redis, pytest.mark.postgres]

DSN_ENV = "PROVISION_TEST_E2E_BILLING_DSN"
WAIT = 20  # seconds: a bound on a wait, not a timing assertion


def eventually(condition, what: str, worker: WorkerProcess, timeout: float = WAIT):
    """Poll `condition` until it returns something truthy (returned); fail with the log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if worker.process.poll() is not None:
            raise AssertionError(f"the worker exited waiting for {what}:\n{worker.output()}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{worker.output()}")


class World:
    """The two targets as their own administrators see them."""

    def __init__(self, pg: ScratchDatabase, role: str, slapd: Slapd) -> None:
        self.pg, self.role, self.slapd = pg, role, slapd

    def login(self, username: str) -> str:
        return f"{username}_{self.pg.suffix}"

    def pg_members(self) -> set[str]:
        return self.pg.members(self.role)  # pg_auth_members on the target server

    def ldap_members(self) -> set[str]:
        return {v.lower() for v in self.slapd.values(NAMES_GROUP, "member")} - {PLACEHOLDER}

    def in_both(self, username: str) -> bool:
        return self.login(username) in self.pg_members() and user_dn(username) in (
            self.ldap_members()
        )

    def in_neither(self, username: str) -> bool:
        return self.login(username) not in self.pg_members() and user_dn(username) not in (
            self.ldap_members()
        )

    def policy(self) -> str:
        return f"""
kind: role
name: db-admin
spec:
  allow:
    permissions: [requests_app.check_access]
  provision:
    - provisioner: postgres
      managed: true
      target: {{dsn_env: {DSN_ENV}, role: {self.role}, login: "{{username}}_{self.pg.suffix}",
                timeout: 5}}
    - provisioner: ldap
      managed: true
      target:
        url: {self.slapd.url}
        bind_dn: "{PROVISIONER_DN}"
        password_env: {PASSWORD_ENV}
        group: "{NAMES_GROUP}"
        member_dn: "uid={{username}},ou=people,dc=example,dc=com"
        unmanaged_members: ["{PLACEHOLDER}"]
        timeout: 3
"""


@pytest.fixture
def world(chain_head, base_policy, apply_yaml, monkeypatch, tmp_path):
    slapd_or_skip()
    slapd = Slapd(tmp_path / "slapd")
    slapd.replace(NAMES_GROUP, "member", [PLACEHOLDER])  # nobody but the placeholder
    pg = ScratchDatabase()
    try:
        role = pg.role("billing_admin")
        for name in ("alice", "eve"):  # eve: a login nobody in the portal owns
            pg.role(f"{name}_{pg.suffix}", login=True, exact=True)
        monkeypatch.setenv(DSN_ENV, pg.conninfo())
        monkeypatch.setenv(PASSWORD_ENV, slapd.provisioner_password)
        made = World(pg, role, slapd)
        apply_yaml(made.policy())
        yield made
    finally:
        slapd.stop()
        pg.drop()


@pytest.fixture
def worker(world, tmp_path):
    prefix = f"ap-test-{uuid.uuid4().hex[:10]}:"
    env = {
        DSN_ENV: world.pg.conninfo(),
        PASSWORD_ENV: world.slapd.provisioner_password,
        "PROVISION_SWEEP_INTERVAL": "1",
        "PROVISION_RETRY_BACKOFF": "1",
        "PROVISION_RETRY_BACKOFF_MAX": "1",
    }
    process = WorkerProcess(tmp_path, prefix, env)
    try:
        with broker(REDIS_URL, key_prefix=prefix):
            yield process
    finally:
        process.stop()
        delete_broker_keys(prefix)


def provisioning(grant: Grant) -> tuple[dict[str, dict], str]:
    """{provisioner: row} of the grant, and the status every surface shows."""
    now = timezone.now()
    grant.refresh_from_db()
    shown = grants_provisioning([grant], now=now)[grant.pk]
    return {r["provisioner"]: r for r in shown.rows}, grant_status(grant, shown, now)


def states(grant: Grant) -> dict[str, str]:
    rows, _ = provisioning(grant)
    return {name: row["state"] for name, row in rows.items()}


def audited(event: str, **data):
    """The audit events of `action` whose data has these values."""
    return AuditEvent.objects.filter(action=event, **{f"data__{k}": v for k, v in data.items()})


def approved(alice, bob, **kwargs) -> Grant:
    request = access_request_create(requester=alice, roles=["db-admin"], reason="INC-16", **kwargs)
    review_submit(request_id=request.id, reviewer=bob, state="APPROVED", reason="ok")
    return Grant.objects.get(request=request)


def test_access_takes_effect_in_postgres_and_ldap_and_ends_there(world, worker, user):
    alice, bob = user("alice"), user("bob")
    pg_login, dn = world.login("alice"), user_dn("alice")

    # Approval -> alice is in the PostgreSQL role and the LDAP group within seconds.
    grant = approved(alice, bob, max_duration="1h")
    eventually(lambda: world.in_both("alice"), "alice in both targets", worker)
    eventually(
        lambda: states(grant) == {"postgres": "applied", "ldap": "applied"},
        "the grant's provisioning to say applied",
        worker,
    )
    assert provisioning(grant)[1] == "active"
    assert audited(AuditAction.PROVISION_APPLIED, user="alice").count() == 2
    assert {e.data["account"] for e in audited(AuditAction.PROVISION_APPLIED)} == {pg_login, dn}

    # Members added by hand, outside the portal, to managed targets: the next reconcile
    # (the task, run by the worker) removes them and audits the drift.
    eve = world.login("eve")
    world.pg.admin.execute(
        sql.SQL("GRANT {} TO {}").format(sql.Identifier(world.role), sql.Identifier(eve))
    )
    with world.slapd.admin() as conn:
        assert conn.modify(NAMES_GROUP, {"member": [(ldap3.MODIFY_ADD, [user_dn("dave")])]})
    assert eve in world.pg_members() and user_dn("dave") in world.ldap_members()
    tasks.provision_reconcile.delay()
    eventually(
        lambda: eve not in world.pg_members() and user_dn("dave") not in world.ldap_members(),
        "the reconciler to remove the members added by hand",
        worker,
    )
    drift = audited(AuditAction.PROVISION_DRIFT_REMOVED, known=False)
    eventually(lambda: drift.count() == 2, "both drift repairs audited", worker)
    assert {e.data["account"] for e in drift} == {eve, user_dn("dave")}
    assert world.in_both("alice"), "the reconciler kept the member the portal put there"

    # Revocation while the LDAP server is down: PostgreSQL is done at once, the grant shows
    # "revoking" with the LDAP error until slapd is back, then alice is out of both.
    world.slapd.stop()
    access_request_revoke(request_id=grant.request_id, actor=bob, reason="done")
    eventually(lambda: pg_login not in world.pg_members(), "alice out of the role", worker)
    # Each target is its own task: the LDAP failure can be recorded before the PostgreSQL
    # task, which has already revoked on the server, records "removed".
    rows, status = eventually(
        lambda: (p := provisioning(grant))[0]["ldap"]["error"]
        and p[0]["postgres"]["state"] == "removed"
        and p,
        "the LDAP removal to fail and the PostgreSQL one to be recorded",
        worker,
    )
    assert status == "revoking"
    assert rows["ldap"]["state"] == "revoking" and rows["postgres"]["state"] == "removed"
    assert world.slapd.provisioner_password not in rows["ldap"]["error"]
    world.slapd.start()
    eventually(lambda: world.in_neither("alice"), "alice out of both targets", worker)
    eventually(lambda: provisioning(grant)[1] == "revoked", "the grant to be revoked", worker)
    assert states(grant) == {"postgres": "removed", "ldap": "removed"}
    assert audited(AuditAction.PROVISION_REMOVED, user="alice").count() == 2

    # Expiry: a short grant is applied, then its end takes alice out of both, by the worker.
    applied_before = audited(AuditAction.PROVISION_APPLIED, user="alice").count()
    short = approved(alice, bob, max_duration="4s")
    eventually(
        lambda: audited(AuditAction.PROVISION_APPLIED, user="alice").count() == applied_before + 2,
        "the short grant applied in both targets",
        worker,
    )
    eventually(lambda: world.in_neither("alice"), "alice out of both after expiry", worker)
    eventually(
        lambda: states(short) == {"postgres": "removed", "ldap": "removed"},
        "the expired grant's provisioning to say removed",
        worker,
    )
    short.refresh_from_db()
    assert short.ended_at is not None and short.ended_at >= short.expires

    # A target that is down blocks nothing: PostgreSQL is applied, LDAP shows failed with
    # its error (audited, notified), and is applied once the server is back.
    world.slapd.stop()
    failures = audited(AuditAction.PROVISION_FAILED, user="alice", action="grant").count()
    third = approved(alice, bob, max_duration="1h")
    rows, status = eventually(
        lambda: (p := provisioning(third))[0]["ldap"]["state"] == "failed" and p,
        "the LDAP grant to fail",
        worker,
    )
    assert rows["ldap"]["error"] and world.slapd.provisioner_password not in rows["ldap"]["error"]
    eventually(lambda: pg_login in world.pg_members(), "alice in the role meanwhile", worker)
    assert status == "active"
    assert (
        audited(AuditAction.PROVISION_FAILED, user="alice", action="grant").count() == failures + 1
    )
    world.slapd.start()
    eventually(lambda: world.in_both("alice"), "alice in both once slapd is back", worker)
    eventually(
        lambda: states(third) == {"postgres": "applied", "ldap": "applied"},
        "the grant's provisioning to say applied",
        worker,
    )
