"""`ETag` on a request, `If-Match` on its state changes, `Location` on 201s (README "ETags
and If-Match"): a client acting on what it saw does not act on something that changed."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest
from requests_app.services.access_requests import access_request_create
from tests.concurrency import run_together
from tests.policies import engineer_requests
from tests.requests_app.api.conftest import url


def etag_of(client, request_id) -> str:
    answer = client.get(url(f"requests/{request_id}/"))
    assert answer.status_code == 200
    return answer["ETag"]


def test_the_etag_is_strong_and_changes_when_a_review_lands(api, apply_yaml, requester):
    apply_yaml(engineer_requests("thresholds: [{approve: 2}]"))
    pending = access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    alice = api("alice")
    before = etag_of(alice, pending.id)
    assert before.startswith('"') and not before.startswith("W/")
    assert etag_of(alice, pending.id) == before
    reviewed = api("bob").post(
        url(f"requests/{pending.id}/reviews/"),
        {"state": "APPROVED", "reason": "ok"},
        format="json",
        HTTP_IF_MATCH=before,
    )
    assert reviewed.status_code == 201 and reviewed.json()["state"] == "PENDING"
    after = etag_of(alice, pending.id)
    assert after != before
    assert reviewed["ETag"] == after
    assert reviewed["Location"] == url(f"requests/{pending.id}/")


@pytest.mark.parametrize(
    "path, body",
    [
        ("withdraw/", {"reason": "changed my mind"}),
        ("reviews/", {"state": "APPROVED", "reason": "ok"}),
        ("approve/", {"reason": "ok"}),
        ("deny/", {"reason": "no"}),
    ],
)
def test_a_stale_if_match_is_a_412_and_changes_nothing(api, pending, path, body):
    persona = {"withdraw/": "alice", "reviews/": "bob"}.get(path, "sam")
    stale = etag_of(api("alice"), pending.id)
    AccessRequest.objects.filter(pk=pending.pk).update(updated=timezone.now())  # a change
    events = AuditEvent.objects.count()
    answer = api(persona).post(
        url(f"requests/{pending.id}/{path}"), body, format="json", HTTP_IF_MATCH=stale
    )
    assert answer.status_code == 412
    assert answer.json() == {"detail": answer.json()["detail"], "code": "precondition_failed"}
    assert AccessRequest.objects.get(pk=pending.pk).state == "PENDING"
    assert not pending.reviews.exists()
    assert AuditEvent.objects.count() == events


def test_a_matching_if_match_lets_the_change_through(api, approved):
    alice = api("alice")
    current = etag_of(alice, approved.id)
    revoked = alice.post(
        url(f"requests/{approved.id}/revoke/"),
        {"reason": "done"},
        format="json",
        HTTP_IF_MATCH=f'W/"weak", {current}',
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "REVOKED"
    assert revoked["ETag"] == etag_of(alice, approved.id) != current
    again = alice.post(
        url(f"requests/{approved.id}/revoke/"),
        {"reason": "done"},
        format="json",
        HTTP_IF_MATCH=current,
    )
    assert again.status_code == 412


@pytest.mark.parametrize("header, status", [("*", 200), ('W/"x"', 412), ("abc", 400), ("", 400)])
def test_if_match_star_weak_and_malformed(api, pending, header, status):
    answer = api("alice").post(
        url(f"requests/{pending.id}/withdraw/"), {}, format="json", HTTP_IF_MATCH=header
    )
    assert answer.status_code == status, answer.json()
    if status == 400:
        assert answer.json()["field"] == "If-Match"


def test_extend_checks_if_match_against_the_request_extended(api, approved):
    alice = api("alice")
    path = url(f"requests/{approved.id}/extend/")
    assert alice.post(path, {}, format="json", HTTP_IF_MATCH='"stale"').status_code == 412
    assert not AccessRequest.objects.filter(extends=approved).exists()
    created = alice.post(path, {}, format="json", HTTP_IF_MATCH=etag_of(alice, approved.id))
    assert created.status_code == 201
    extension = AccessRequest.objects.get(extends=approved)
    assert created["Location"] == url(f"requests/{extension.id}/")


def test_location_of_a_created_request_resolves_to_it(api):
    alice = api("alice")
    created = alice.post(url("requests/"), {"roles": ["db-admin"]}, format="json")
    assert created.status_code == 201
    shown = alice.get(created["Location"])
    # The detail adds what reviewers should know of the requester (`requester_unused_grants`).
    detail = shown.json()
    assert shown.status_code == 200 and detail.pop("requester_unused_grants") == []
    assert detail == created.json()
    assert shown["ETag"] == created["ETag"]
    dry = alice.post(url("requests/"), {"roles": ["db-admin"], "dry_run": True}, format="json")
    assert dry.status_code == 200 and not dry.has_header("Location")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_two_changes_made_on_one_etag_at_once_let_one_through(api, user, requester, round_):
    """alice withdraws and sam approves, both If-Match the ETag they read, at the same
    instant: the comparison is under the row lock, so one wins and the other gets 412."""
    api("alice")
    pending = access_request_create(requester=requester, roles=["db-admin"], reason="INC-9")
    tag = etag_of(api("alice"), pending.id)

    def act(name, path, body):
        token = Token.objects.get_or_create(user=user(name))[0]
        client = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client.post(
            url(f"requests/{pending.id}/{path}"), body, format="json", HTTP_IF_MATCH=tag
        )

    outcomes = run_together(
        lambda: act("alice", "withdraw/", {"reason": "no longer needed"}),
        lambda: act("sam", "approve/", {"reason": "ok"}),
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert sorted(o.value.status_code for o in outcomes) == [200, 412]
    state = AccessRequest.objects.get(pk=pending.pk).state
    assert state in ("WITHDRAWN", "APPROVED")
    resolutions = AuditEvent.objects.filter(action__in=["request.withdrawn", "request.approved"])
    assert resolutions.count() == 1
