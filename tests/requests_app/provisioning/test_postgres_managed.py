"""A managed PostgreSQL target set up as docs/provisioning.md says (the portal's admin login
holds ADMIN OPTION on the group role, so it is a member itself): the reconciler leaves the
admin alone, and revoking still works afterwards (review 16, finding 1)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from requests_app import tasks
from requests_app.models import ProvisionAssignment
from requests_app.services.grants import access_request_revoke
from tests.postgres_server import admin_conninfo
from tests.requests_app.provisioning.conftest import db_admin_provisioning

pytestmark = pytest.mark.postgres(direct=True)

DSN_ENV = "PROVISION_TEST_MANAGED_DSN"


@pytest.fixture
def pg_roles(monkeypatch):
    """An admin login with ADMIN OPTION on a fresh group role, and alice's login."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "admin": f"ap_admin_{suffix}",
        "role": f"ap_billing_{suffix}",
        "alice": f"ap_{suffix}_alice",
        "prefix": f"ap_{suffix}_",
    }
    su = psycopg.connect(admin_conninfo(), autocommit=True)

    def run(statement, *idents):
        su.execute(sql.SQL(statement).format(*(sql.Identifier(n) for n in idents)))

    run("CREATE ROLE {} LOGIN", names["admin"])
    run("CREATE ROLE {} NOLOGIN", names["role"])
    run("CREATE ROLE {} LOGIN", names["alice"])
    run("GRANT {} TO {} WITH ADMIN OPTION", names["role"], names["admin"])
    params = psycopg.conninfo.conninfo_to_dict(admin_conninfo())
    params["user"] = names["admin"]
    monkeypatch.setenv(DSN_ENV, psycopg.conninfo.make_conninfo(**params))

    def is_member(login):
        query = "SELECT pg_has_role(%s, %s, 'MEMBER')"
        return su.execute(query, (login, names["role"])).fetchone()[0]

    names["is_member"] = is_member
    yield names
    for key in ("alice", "role", "admin"):
        run("DROP ROLE IF EXISTS {}", names[key])
    su.close()


def test_the_reconciler_leaves_the_admin_login_alone_and_revokes_still_work(
    apply_yaml, base_policy, approve, requester, work, pg_roles
):
    target = (
        f'{{"dsn_env": "{DSN_ENV}", "role": "{pg_roles["role"]}", '
        f'"login": "{pg_roles["prefix"]}{{username}}"}}'
    )
    apply_yaml(
        db_admin_provisioning(f'{{"provisioner": "postgres", "managed": true, "target": {target}}}')
    )
    request = approve("db-admin")
    work()
    assert pg_roles["is_member"](pg_roles["alice"])
    assert tasks.provision_reconcile.delay().get() == {"repairs": 0, "failed": []}
    access_request_revoke(request_id=request.id, actor=requester, reason="done")
    work()
    row = ProvisionAssignment.objects.get(user=requester)
    assert row.last_error == ""
    assert not pg_roles["is_member"](pg_roles["alice"])
    assert pg_roles["is_member"](pg_roles["admin"])  # the portal can still administer it
