"""A database connection lost mid-request, on PostgreSQL: the server really ends the backend
(`pg_terminate_backend` from a second connection) at a chosen moment.

Lost before the service's transaction reached COMMIT, nothing was saved: the service runs
again on a fresh connection and the request is created exactly once. Lost after COMMIT, it
is never replayed, and the client gets a JSON answer telling it to look before resending.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Review
from requests_app.services.access_requests import access_request_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def terminate_this_backend() -> None:
    """End this thread's PostgreSQL session from a second connection, and wait (at most
    5 s, PostgreSQL's own wait) until the server has really ended it."""
    pid = connection.connection.info.backend_pid
    other = connection.get_new_connection(connection.get_connection_params())
    try:
        other.autocommit = True
        (ended,) = other.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
        assert ended, "PostgreSQL did not end the backend"
    finally:
        other.close()


class KillOnce:
    """An execute wrapper (Django's database instrumentation) that ends the session once,
    just before the first statement that matches `when` reaches the server."""

    def __init__(self, when):
        self.when, self.fired = when, False

    def __call__(self, execute, sql, params, many, context):
        if not self.fired and self.when(sql):
            self.fired = True
            terminate_this_backend()
        return execute(sql, params, many, context)


def in_the_services_transaction(sql: str) -> bool:
    return connection.in_atomic_block


def test_a_connection_lost_before_commit_is_retried_and_creates_once(requester):
    kill = KillOnce(in_the_services_transaction)
    with connection.execute_wrapper(kill):
        created = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    assert kill.fired
    assert list(AccessRequest.objects.values_list("id", flat=True)) == [created.id]
    assert AuditEvent.objects.filter(action="request.created").count() == 1
    assert audit_verify().ok


def _client_of(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_the_api_create_survives_a_connection_lost_before_commit(requester):
    client = _client_of(requester)
    kill = KillOnce(in_the_services_transaction)
    with connection.execute_wrapper(kill):
        answer = client.post(
            "/api/v1/requests/", {"roles": ["db-admin"], "reason": "INC-1"}, format="json"
        )
    assert kill.fired
    assert answer.status_code == 201, answer.content
    assert [str(pk) for pk in AccessRequest.objects.values_list("id", flat=True)] == [
        answer.json()["id"]
    ]


def test_a_connection_lost_after_commit_is_not_replayed_and_answers_json(requester, reviewer):
    """bob's review committed, then the session ended before the answer (the request as it
    is now) was read: one review, never a second, and a JSON body, not an HTML 500, that
    tells the client to look before sending it again."""
    pending = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    client = _client_of(reviewer)
    committed = []

    def after_commit(sql: str) -> bool:
        """The first statement after the review's transaction committed and its commit
        hooks ran (they heal a lost connection themselves): the view reading the answer."""
        if not committed:
            if sql.startswith('INSERT INTO "requests_app_review" '):
                transaction.on_commit(lambda: committed.append(True))
            return False
        return not (connection.in_atomic_block or connection.run_commit_hooks_on_set_autocommit_on)

    with connection.execute_wrapper(KillOnce(after_commit)):
        answer = client.post(
            f"/api/v1/requests/{pending.id}/reviews/",
            {"state": "APPROVED", "reason": "ok"},
            format="json",
        )
    assert committed
    # What Django does when a request ends on a failed connection (the test client skips
    # its request_finished handler): close it, so the next one opens a fresh one.
    connection.close()
    assert answer.status_code == 503, answer.content
    assert answer.json()["code"] == "database_unavailable"
    assert "may have been saved" in answer.json()["detail"]
    assert Review.objects.filter(request=pending).count() == 1
    assert AuditEvent.objects.filter(action="review.submitted").count() == 1
