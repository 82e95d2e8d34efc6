"""Bulk review: one reason for several requests, each checked by the service and reported
on its own."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from requests_app.models import Review
from tests.policies import contractor_dave

QUEUE = reverse("admin:requests_app_pendingrequest_changelist")
ALL = reverse("admin:requests_app_accessrequest_changelist")

CONTRACTOR = contractor_dave()


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def choose(action: str, requests) -> dict:
    return {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [str(r.pk) for r in requests]}


def confirm(action: str, requests, reason: str) -> dict:
    return {
        "action": action,
        "post": "yes",
        "reason": reason,
        ACTION_CHECKBOX_NAME: [str(r.pk) for r in requests],
    }


def states(*requests) -> list[str]:
    for r in requests:
        r.refresh_from_db()
    return [r.state for r in requests]


def test_bulk_approve_asks_for_one_reason_then_approves_each(login, make_request):
    first, second = make_request(["db-admin"]), make_request(["dev-admin"])
    client = login("bob")
    page = client.post(QUEUE, choose("approve_selected", [first, second]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Approve 2 requests" in text and "db-admin" in text and "dev-admin" in text
    assert states(first, second) == [RequestState.PENDING] * 2  # nothing happens before confirm
    done = client.post(QUEUE, confirm("approve_selected", [first, second], "CAB-12 approved"))
    assert done.status_code == 302
    assert states(first, second) == [RequestState.APPROVED] * 2
    assert set(Review.objects.values_list("reason", flat=True)) == {"CAB-12 approved"}
    said = messages_of(done)
    assert sum("You approved alice" in m for m in said) == 2
    assert "2 of 2 requests reviewed." in said


def test_bulk_deny(login, make_request):
    first, second = make_request(["db-admin"]), make_request(["dev-admin"])
    client = login("bob")
    client.post(QUEUE, confirm("deny_selected", [first, second], "no change window"))
    assert states(first, second) == [RequestState.DENIED] * 2


def test_bulk_reports_each_refusal_and_does_the_rest(login, make_request, apply_yaml, user):
    apply_yaml(CONTRACTOR)
    apply_yaml("kind: user\nname: alice\nroles: [engineer, reviewer]\n")
    own = make_request(["db-admin"])
    others = make_request(["db-admin"], by=user("dave"))
    response = login("alice").post(ALL, confirm("approve_selected", [own, others], "fine"))
    said = messages_of(response)
    assert "alice → db-admin: not reviewed: nobody may review their own request." in said, said
    assert any(m.startswith("You approved dave → db-admin") for m in said)
    assert "1 of 2 requests reviewed." in said
    assert states(own, others) == [RequestState.PENDING, RequestState.APPROVED]


def test_bulk_checks_the_reason_rule_of_each_request(
    login, make_request, two_person, apply_yaml, user
):
    apply_yaml(CONTRACTOR)
    dave = user("dave")
    needs_reason = make_request(["db-admin"])
    no_reason_needed = make_request(["db-admin"], by=dave, reason="")
    client = login("bob")
    page = client.post(QUEUE, choose("approve_selected", [needs_reason, no_reason_needed]))
    assert "required by some of these requests" in page.content.decode()
    response = client.post(QUEUE, confirm("approve_selected", [needs_reason, no_reason_needed], ""))
    said = messages_of(response)
    assert any(
        m.startswith("alice → db-admin: not reviewed: a reason is required to review this request")
        and "(its policy requires a reason)" in m
        for m in said
    ), said
    assert states(needs_reason, no_reason_needed) == [RequestState.PENDING, RequestState.APPROVED]


def test_bulk_skips_requests_the_user_cannot_see(login, make_request):
    request = make_request()
    response = login("mallory").post(ALL, confirm("approve_selected", [request], "x"))
    assert response.status_code == 302
    assert "0 of 0 requests reviewed." in messages_of(response)
    assert states(request) == [RequestState.PENDING]


def test_bulk_reason_too_long_is_a_400(login, make_request):
    request = make_request()
    response = login("bob").post(QUEUE, confirm("approve_selected", [request], "x" * 5000))
    assert response.status_code == 400
    assert states(request) == [RequestState.PENDING]
