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
