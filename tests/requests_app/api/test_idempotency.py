"""`Idempotency-Key` on the API's POSTs: a retry gets the first answer, never a second copy
of the work (README "Retries (Idempotency-Key)")."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.api.idempotency import RUNNING_FOR, fingerprint
from requests_app.models import AccessRequest, IdempotencyRecord
from tests.concurrency import run_together
from tests.requests_app.api.conftest import url

BODY = {"roles": ["db-admin"], "reason": "INC-7"}


def post(client, path, body, key, **headers):
    return client.post(url(path), body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_a_retried_create_gets_the_first_answer_and_creates_one_request(api):
    alice = api("alice")
    first = post(alice, "requests/", BODY, "create-1")
    again = post(alice, "requests/", BODY, "create-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert again["Location"] == first["Location"] and again["ETag"] == first["ETag"]
    assert AccessRequest.objects.filter(user__username="alice").count() == 1
    assert AuditEvent.objects.filter(action="request.created").count() == 1


def test_without_a_key_every_post_does_the_work(api):
    alice = api("alice")
    alice.post(url("requests/"), BODY, format="json")
    alice.post(url("requests/"), BODY, format="json")
    assert AccessRequest.objects.filter(user__username="alice").count() == 2


def test_a_replay_after_the_request_changed_still_returns_the_first_answer(api, pending):
    bob = api("bob")
    body = {"state": "APPROVED", "reason": "ok"}
    first = post(bob, f"requests/{pending.id}/reviews/", body, "review-1")
    assert first.status_code == 201 and first.json()["state"] == "APPROVED"
    revoked = api("alice").post(
        url(f"requests/{pending.id}/revoke/"), {"reason": "done"}, format="json"
    )
    assert revoked.json()["state"] == "REVOKED"
    again = post(bob, f"requests/{pending.id}/reviews/", body, "review-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert AuditEvent.objects.filter(action="review.submitted").count() == 1


def test_the_same_key_with_another_body_or_path_is_a_422(api, pending):
    alice = api("alice")
    assert post(alice, "requests/", BODY, "k").status_code == 201
    other = post(alice, "requests/", {**BODY, "reason": "INC-8"}, "k")
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_mismatch"
    elsewhere = post(alice, f"requests/{pending.id}/withdraw/", {"reason": "x"}, "k")
    assert elsewhere.status_code == 422
    assert AccessRequest.objects.get(pk=pending.pk).state == "PENDING"
    assert AccessRequest.objects.filter(user__username="alice").count() == 2


def test_another_user_with_the_same_key_is_independent(api, pending):
    review = {"state": "APPROVED", "reason": "ok"}
    assert post(api("bob"), f"requests/{pending.id}/reviews/", review, "shared").status_code == 201
    mine = post(api("alice"), "requests/", BODY, "shared")
    assert mine.status_code == 201
    assert not mine.has_header("Idempotent-Replayed")
    assert mine.json()["user"] == "alice"


@pytest.mark.parametrize("key", ["", " leading-space", "é", "tab\there", "x" * 256])
def test_a_malformed_key_is_a_400_and_nothing_is_done(api, key):
    answer = post(api("alice"), "requests/", BODY, key)
    assert answer.status_code == 400
    assert answer.json()["code"] == "idempotency_key_invalid"
    assert not AccessRequest.objects.exists()


def test_a_key_of_255_printable_characters_is_accepted(api):
    assert post(api("alice"), "requests/", BODY, "K~ !" + "x" * 251).status_code == 201


def test_a_refusal_is_stored_and_replayed_but_a_conflict_is_not(api, pending):
    bob = api("bob")
    refused = post(bob, f"requests/{pending.id}/withdraw/", {"reason": "x"}, "w")
    assert refused.status_code == 403
    assert (
        post(bob, f"requests/{pending.id}/withdraw/", {"reason": "x"}, "w")["Idempotent-Replayed"]
        == "true"
    )
    alice = api("alice")
    assert post(alice, f"requests/{pending.id}/withdraw/", {}, "a").status_code == 200
    gone = post(alice, f"requests/{pending.id}/withdraw/", {}, "b")
    assert gone.status_code == 409
    assert not IdempotencyRecord.objects.filter(key="b").exists()


def test_keys_expire_after_24_hours_and_are_purged(api):
    alice = api("alice")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = post(alice, "requests/", BODY, "day")
    with time_machine.travel(start + timedelta(hours=23, minutes=59), tick=False):
        assert post(alice, "requests/", BODY, "day").json()["id"] == first.json()["id"]
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        later = post(alice, "requests/", {"roles": ["dev-admin"]}, "other")
        assert not IdempotencyRecord.objects.filter(key="day").exists()
        again = post(alice, "requests/", BODY, "day")
    assert later.status_code == 201
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]


def reserve(user, key: str, body: dict, created) -> IdempotencyRecord:
    """A reservation as a first attempt still at work (or dead) leaves it."""
    return IdempotencyRecord.objects.create(
        user=user,
        key=key,
        fingerprint=fingerprint("POST", url("requests/"), body),
        created=created,
        expires_at=created + timedelta(hours=24),
    )


def test_a_key_whose_first_attempt_is_still_running_is_a_409_with_retry_after(api, user):
    reserve(user("alice"), "busy", BODY, timezone.now())
    busy = post(api("alice"), "requests/", BODY, "busy")
    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_key_in_use"
    assert busy["Retry-After"] == "1"
    assert post(api("alice"), "requests/", {"roles": ["dev-admin"]}, "busy").status_code == 422
    assert not AccessRequest.objects.exists()


def test_a_dead_attempts_reservation_is_taken_over(api, user):
    reserve(user("alice"), "dead", BODY, timezone.now() - RUNNING_FOR - timedelta(seconds=1))
    answer = post(api("alice"), "requests/", BODY, "dead")
    assert answer.status_code == 201
    assert IdempotencyRecord.objects.get(key="dead").status == 201


@pytest.fixture
def alice_with_password(requester):
    requester.set_password("correct horse battery")
    requester.save()
    return requester


def test_a_token_retry_needs_the_password_again_and_stores_no_token(alice_with_password):
    body = {"username": "alice", "password": "correct horse battery"}
    first = post(APIClient(), "auth/token/", body, "login-1")
    assert first.status_code == 200
    wrong = post(APIClient(), "auth/token/", {**body, "password": "guess"}, "login-1")
    assert wrong.status_code == 400 and "token" not in wrong.json()
    again = post(APIClient(), "auth/token/", body, "login-1")
    assert again.json() == first.json() == {"token": Token.objects.get(user__username="alice").key}
    assert again["Idempotent-Replayed"] == "true"
    record = IdempotencyRecord.objects.get(key="login-1")
    assert first.json()["token"] not in str((record.body, record.headers))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_concurrent_retries_with_one_key_create_one_request(api, user, round_):
    """Six clients send the same key and body at the same instant, each on its own
    connection: one request is created; every answer is that 201 (first or replayed) or
    the documented 409 idempotency_key_in_use with Retry-After."""
    api("alice")  # the policy, and alice's token
    token = Token.objects.get(user=user("alice"))

    def send():
        client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
        return post(client, "requests/", BODY, "race")

    outcomes = run_together(*[send] * 6)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert AccessRequest.objects.filter(user__username="alice").count() == 1
    created = AccessRequest.objects.get(user__username="alice")
    for answer in (o.value for o in outcomes):
        if answer.status_code == 409:
            assert answer.json()["code"] == "idempotency_key_in_use"
            assert answer["Retry-After"] == "1"
        else:
            assert answer.status_code == 201
            assert answer.json()["id"] == str(created.id)
    done = [o.value for o in outcomes if o.value.status_code == 201]
    assert [a.has_header("Idempotent-Replayed") for a in done].count(False) == 1
    assert AuditEvent.objects.filter(action="request.created").count() == 1


def test_the_schema_documents_the_key_the_preconditions_and_the_headers(api):
    schema = api(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in ["/api/v1/requests/", "/api/v1/auth/token/", "/api/v1/requests/{id}/deny/"]:
        operation = paths[path]["post"]
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
        assert {"409", "422"} <= operation["responses"].keys()
    create = paths["/api/v1/requests/"]["post"]["responses"]["201"]["headers"]
    assert {"Location", "ETag", "Idempotent-Replayed"} <= create.keys()
    revoke = paths["/api/v1/requests/{id}/revoke/"]["post"]
    assert "If-Match" in [p["name"] for p in revoke["parameters"]]
    assert "412" in revoke["responses"]
    assert "ETag" in paths["/api/v1/requests/{id}/"]["get"]["responses"]["200"]["headers"]
    withdrawn = paths["/api/v1/requests/{id}/withdraw/"]["post"]["responses"]["200"]["headers"]
    assert "ETag" in withdrawn
    for dry_run in ("/api/v1/requests/", "/api/v1/requests/{id}/extend/"):
        assert "ETag" not in paths[dry_run]["post"]["responses"]["200"].get("headers", {})


def test_a_dry_run_answer_has_no_etag_as_documented(api):
    answer = api("alice").post(url("requests/"), {**BODY, "dry_run": True}, format="json")
    assert answer.status_code == 200 and not answer.has_header("ETag")


def test_a_retry_after_a_503_does_the_work(api, monkeypatch):
    """A 5xx is not kept: the database was away the first time, the retry creates it."""
    from accessportal.kernel.errors import DatabaseUnavailable
    from requests_app.api.views import requests as views

    real, calls = views.access_request_create, []

    def away_once(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise DatabaseUnavailable("the database connection was lost; nothing was saved")
        return real(**kwargs)

    monkeypatch.setattr(views, "access_request_create", away_once)
    alice = api("alice")
    assert post(alice, "requests/", BODY, "after-503").status_code == 503
    assert not IdempotencyRecord.objects.filter(key="after-503").exists()
    again = post(alice, "requests/", BODY, "after-503")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert AccessRequest.objects.count() == 1


# Whether the work was done is in the record, written in the service's own transaction.


def fail_once_after_the_work(monkeypatch, error: BaseException) -> None:
    """The view raises `error` once, after the request's creation committed (answering
    it), as a database lost right after COMMIT or a killed worker does."""
    from requests_app.api.views.requests import AccessRequestViewSet

    real, failed = AccessRequestViewSet._created, []

    def answer(view, created, dry_run):
        if not failed:
            failed.append(True)
            raise error
        return real(view, created, dry_run)

    monkeypatch.setattr(AccessRequestViewSet, "_created", answer)


def test_a_server_error_after_the_commit_is_answered_from_the_request_not_redone(api, monkeypatch):
    from django.db import OperationalError

    fail_once_after_the_work(monkeypatch, OperationalError("server closed the connection"))
    alice = api("alice")
    alice.raise_request_exception = False  # the 503 a client gets, not the test's error
    assert post(alice, "requests/", BODY, "k").status_code == 503
    again = post(alice, "requests/", BODY, "k")
    created = AccessRequest.objects.get(user__username="alice")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == str(created.id)
    assert again["Location"] == url(f"requests/{created.id}/") and again.has_header("ETag")
    assert AuditEvent.objects.filter(action="request.created").count() == 1


def test_a_worker_killed_after_the_commit_leaves_a_key_that_answers_from_the_request(
    api, monkeypatch
):
    fail_once_after_the_work(monkeypatch, SystemExit(1))
    alice = api("alice")
    with pytest.raises(SystemExit):
        post(alice, "requests/", BODY, "k")
    again = post(alice, "requests/", BODY, "k")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert AccessRequest.objects.filter(user__username="alice").count() == 1


def test_an_answer_not_stored_after_the_commit_is_never_redone_even_after_minutes(api, monkeypatch):
    """The answer's store failed (or the process died before it): a retry at once, or
    after the dead-claim delay, answers from the committed request."""
    from requests_app.api import idempotency

    monkeypatch.setattr(idempotency, "_store", lambda record, response, keep_body: None)
    alice = api("alice")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = post(alice, "requests/", BODY, "k")
        soon = post(alice, "requests/", BODY, "k")
    with time_machine.travel(start + RUNNING_FOR + timedelta(seconds=1), tick=False):
        later = post(alice, "requests/", BODY, "k")
    assert first.status_code == 201
    for again in (soon, later):
        assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
        assert again.json()["id"] == first.json()["id"]
    assert AccessRequest.objects.filter(user__username="alice").count() == 1


def test_an_action_answered_from_the_request_keeps_its_status_and_shows_it_now(
    api, pending, monkeypatch
):
    from requests_app.api.views.requests import AccessRequestViewSet

    real, failed = AccessRequestViewSet._answer, []

    def answer(view, code=200):
        if not failed:
            failed.append(True)
            raise SystemExit(1)
        return real(view, code)

    monkeypatch.setattr(AccessRequestViewSet, "_answer", answer)
    bob = api("bob")
    review = {"state": "APPROVED", "reason": "ok"}
    with pytest.raises(SystemExit):
        post(bob, f"requests/{pending.id}/reviews/", review, "r")
    again = post(bob, f"requests/{pending.id}/reviews/", review, "r")
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["state"] == "APPROVED"
    assert AuditEvent.objects.filter(action="review.submitted").count() == 1


def test_a_failure_inside_the_services_transaction_frees_the_key(api, monkeypatch):
    """Rolled back with the work, the mark is absent: the retry does the work."""
    from accessportal.kernel.errors import DatabaseUnavailable
    from requests_app.services import access_requests

    real, failed = access_requests._write, []

    def write_then_fail(*args):
        real(*args)
        if not failed:
            failed.append(True)
            raise DatabaseUnavailable("the database connection was lost; nothing was saved")

    monkeypatch.setattr(access_requests, "_write", write_then_fail)
    alice = api("alice")
    assert post(alice, "requests/", BODY, "k").status_code == 503
    assert not IdempotencyRecord.objects.filter(key="k").exists()
    again = post(alice, "requests/", BODY, "k")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert AccessRequest.objects.filter(user__username="alice").count() == 1


def test_a_late_attempt_whose_key_was_taken_over_saves_nothing(api, monkeypatch):
    """Its claim was taken over as dead while it ran: its mark cannot be written, so its
    work is rolled back with it."""
    from requests_app.api.views import requests as views

    real = views.access_request_create

    def taken_over_meanwhile(**kwargs):
        IdempotencyRecord.objects.filter(key="k").delete()
        return real(**kwargs)

    monkeypatch.setattr(views, "access_request_create", taken_over_meanwhile)
    answer = post(api("alice"), "requests/", BODY, "k")
    assert answer.status_code == 409 and answer.json()["code"] == "concurrent_update"
    assert not AccessRequest.objects.exists()
    assert not AuditEvent.objects.filter(action="request.created").exists()


def test_a_dry_run_marks_nothing_and_is_done_again_after_a_server_error(api, monkeypatch):
    from django.db import OperationalError

    fail_once_after_the_work(monkeypatch, OperationalError("server closed the connection"))
    alice = api("alice")
    alice.raise_request_exception = False  # the 503 a client gets, not the test's error
    body = {**BODY, "dry_run": True}
    assert post(alice, "requests/", body, "k").status_code == 503
    again = post(alice, "requests/", body, "k")
    assert again.status_code == 200 and not again.has_header("Idempotent-Replayed")
    assert not AccessRequest.objects.exists()


def test_a_stale_if_match_is_not_kept_so_a_retry_with_a_fresh_one_goes_through(api, approved):
    alice = api("alice")
    path, body = f"requests/{approved.id}/revoke/", {"reason": "done"}
    stale = post(alice, path, body, "k", HTTP_IF_MATCH='"0000"')
    assert stale.status_code == 412
    fresh = alice.get(url(f"requests/{approved.id}/"))["ETag"]
    revoked = post(alice, path, body, "k", HTTP_IF_MATCH=fresh)
    assert revoked.status_code == 200 and not revoked.has_header("Idempotent-Replayed")
    assert revoked.json()["state"] == "REVOKED"


def test_a_post_purges_at_most_a_batch_of_expired_keys(api, user):
    from requests_app.api.idempotency import PURGE_BATCH

    alice, long_ago = user("alice"), timezone.now() - timedelta(days=2)
    IdempotencyRecord.objects.bulk_create(
        IdempotencyRecord(
            user=alice, key=f"old-{n}", fingerprint="x", created=long_ago, expires_at=long_ago
        )
        for n in range(PURGE_BATCH + 1)
    )
    assert post(api("alice"), "requests/", BODY, "new").status_code == 201
    assert IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_after_the_commit_then_a_retry_answers_without_a_second_review(
    requester, reviewer
):
    """On PostgreSQL, the server really ends the session after the review committed: 503,
    then the same POST with the same key answers 201 from the request, one review."""
    from django.db import connection, transaction

    from requests_app.models import Review
    from requests_app.services.access_requests import access_request_create
    from tests.requests_app.test_connection_loss import KillOnce, _client_of

    pending = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    client = _client_of(reviewer)
    committed = []

    def after_commit(sql: str) -> bool:
        if not committed:
            if sql.startswith('INSERT INTO "requests_app_review" '):
                transaction.on_commit(lambda: committed.append(True))
            return False
        return not (connection.in_atomic_block or connection.run_commit_hooks_on_set_autocommit_on)

    path, review = f"requests/{pending.id}/reviews/", {"state": "APPROVED", "reason": "ok"}
    with connection.execute_wrapper(KillOnce(after_commit)):
        lost = post(client, path, review, "k")
    connection.close()  # as Django does when a request ends on a failed connection
    assert committed and lost.status_code == 503
    again = post(client, path, review, "k")
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert Review.objects.filter(request=pending).count() == 1
    assert AuditEvent.objects.filter(action="review.submitted").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_lost_before_the_commit_is_replayed_with_its_mark_once(requester):
    """The service's retry on a fresh connection still works with the mark's transaction
    around it: one request, its key marked and answered 201 by the first attempt."""
    from django.db import connection

    from tests.requests_app.test_connection_loss import KillOnce, _client_of

    kill = KillOnce(lambda sql: sql.startswith('INSERT INTO "requests_app_accessrequest"'))
    with connection.execute_wrapper(kill):
        answer = post(_client_of(requester), "requests/", BODY, "k")
    assert kill.fired and answer.status_code == 201, answer.content
    assert not answer.has_header("Idempotent-Replayed")
    assert [str(pk) for pk in AccessRequest.objects.values_list("id", flat=True)] == [
        answer.json()["id"]
    ]
    record = IdempotencyRecord.objects.get(key="k")
    assert (record.status, record.committed_status, record.resource) == (
        201,
        201,
        answer.json()["id"],
    )


def test_a_kept_empty_body_is_replayed_as_such_not_redone(api, user):
    """A stored answer without a body is not taken for "the body was not kept"."""
    record = reserve(user("alice"), "empty", BODY, timezone.now())
    IdempotencyRecord.objects.filter(pk=record.pk).update(status=200, body=None, body_kept=True)
    again = post(api("alice"), "requests/", BODY, "empty")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    assert not AccessRequest.objects.exists()


def test_a_mismatch_is_a_422_in_the_one_shape_with_errors(api):
    alice = api("alice")
    post(alice, "requests/", BODY, "shape-1")
    other = post(alice, "requests/", {**BODY, "reason": "INC-8"}, "shape-1")
    assert other.status_code == 422
    body = other.json()
    assert body["code"] == "idempotency_key_mismatch"
    assert body["errors"] == {"non_field_errors": [body["detail"]]}


def test_a_retry_with_another_if_match_is_another_operation_not_a_replay(api, pending):
    """The key is bound to the If-Match it came with: after a 400 for a malformed header,
    the corrected retry with the same key is told to use a new key (422), instead of being
    answered the stored 400 for a day."""
    alice = api("alice")
    path = f"requests/{pending.id}/withdraw/"
    bad = post(alice, path, {"reason": "x"}, "im-1", HTTP_IF_MATCH="abc")
    assert bad.status_code == 400 and bad.json()["field"] == "If-Match"
    fixed = post(alice, path, {"reason": "x"}, "im-1", HTTP_IF_MATCH="*")
    assert fixed.status_code == 422
    assert fixed.json()["code"] == "idempotency_key_mismatch"
    again = post(alice, path, {"reason": "x"}, "im-2", HTTP_IF_MATCH="*")
    assert again.status_code == 200 and again.json()["state"] == "WITHDRAWN"


def test_a_key_past_its_day_is_never_replayed_even_before_the_purge_reaches_it(api, monkeypatch):
    """The purge deletes a batch at a time; a key it has not reached yet is free anyway."""
    monkeypatch.setattr("requests_app.api.idempotency.PURGE_BATCH", 0)
    alice = api("alice")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = post(alice, "requests/", BODY, "late")
    with time_machine.travel(start + timedelta(hours=24, seconds=1), tick=False):
        again = post(alice, "requests/", BODY, "late")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert again.json()["id"] != first.json()["id"]
