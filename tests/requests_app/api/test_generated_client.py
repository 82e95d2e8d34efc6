"""A client generated from the schema the server serves drives the whole flow, as an
integrator's would: request → dry run → review → access check → grants → revoke → audit.

openapi-python-client generates the package from `GET /api/schema/` (once per schema and
session: generated_client.py); the driver (client_flow.py) uses only the generated functions
and models, over httpx's WSGI transport into this process, so the calls share the test's
database transaction on SQLite and PostgreSQL alike. mypy --strict checks the driver against
the generated package: a schema that declared a field, a parameter or an answer wrongly
shows up here as a type error or an UnexpectedAnswer.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token

from tests.requests_app.api import generated_client, in_process

DRIVER = Path(__file__).with_name("client_flow.py")
PERSONAS = ("alice", "bob", "ivy", "erin")


@pytest.fixture(scope="session")
def client_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("generated_client")


@pytest.fixture
def served_schema(api) -> bytes:
    """The schema as an anonymous integrator downloads it, in JSON."""
    response = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    return json.dumps(response.json(), sort_keys=True).encode()


@pytest.fixture
def generated(served_schema, client_cache) -> Path:
    return generated_client.generate(served_schema, client_cache)


@pytest.fixture
def driver(generated, monkeypatch):
    """client_flow, importing the package generated for this schema."""
    monkeypatch.syspath_prepend(str(generated))
    for name in [n for n in sys.modules if n.startswith(generated_client.PACKAGE)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delitem(sys.modules, "tests.requests_app.api.client_flow", raising=False)
    return importlib.import_module("tests.requests_app.api.client_flow")


@pytest.fixture
def personas(api_policy, user, driver, db):
    tokens = {name: Token.objects.get_or_create(user=user(name))[0].key for name in PERSONAS}
    with in_process.wsgi_app() as app:
        transport = httpx.WSGITransport(app=app)
        yield driver.clients("http://testserver", transport, tokens)


def test_generated_client_drives_the_access_flow_from_request_to_audit(driver, personas):
    flow = driver.run(personas, role="db-admin", reason="INC-4242: rotate billing credentials")

    # the dry run showed the request without storing it: bob's queue has only the real one
    assert flow.dry_run.id is None
    assert str(flow.dry_run.state) == "PENDING"
    assert flow.dry_run.roles == ["db-admin"]
    assert str(flow.created.state) == "PENDING"
    assert [request.id for request in flow.bobs_queue.results] == [flow.created.id]

    # bob's approval gave alice two hours of db-admin, which ivy's check and erin's list see
    assert str(flow.reviewed.state) == "APPROVED"
    assert flow.reviewed.access_expires - flow.reviewed.access_starts == timedelta(hours=2)
    assert str(flow.second_review.code) == "not_pending"
    assert "no longer pending" in flow.second_review.detail
    assert flow.check_while_granted.allowed is True
    assert str(flow.check_while_granted.via) == "grant"
    assert flow.check_while_granted.expires == flow.reviewed.access_expires
    [grant] = flow.grants_while_granted.results
    assert (grant.user, grant.role, grant.active) == ("alice", "db-admin", True)

    # alice's revocation ended it at once, for every reader
    assert str(flow.revoked.state) == "REVOKED"
    assert flow.revoked.revoked_by == "alice"
    assert flow.revoked.revoke_reason == "done early"
    assert flow.revoked.revoked_at is not None
    assert flow.check_after_revoke.allowed is False
    [grant] = flow.grants_after_revoke.results
    assert (grant.active, grant.revoked) == (False, True)
    assert flow.shown_after_revoke.revoked_at == flow.revoked.revoked_at

    # erin's audit trail of the request, oldest first, hash-chained
    actions = [str(event.action) for event in flow.audit]
    assert actions[0] == "request.created"
    assert "review.submitted" in actions
    assert actions[-1] == "request.revoked"
    assert all(
        later.prev_hash == earlier.hash_
        for earlier, later in zip(flow.audit, flow.audit[1:], strict=False)
        if later.seq == earlier.seq + 1
    )


def test_the_driver_type_checks_strictly_against_the_generated_client(generated):
    source = DRIVER.read_text()
    # it proves the schema only if nothing is waved through
    assert "type: ignore" not in source
    assert not re.search(r"\bcast\(|\bAny\b", source)
    assert generated_client.type_check(generated, DRIVER) == ""
