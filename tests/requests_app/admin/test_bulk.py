"""Bulk review: one reason for several requests, each checked by the service and reported
on its own."""

from __future__ import annotations

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.admin.requests import bulk
from requests_app.models import AccessRequest, Review
from requests_app.services.reviews import review_submit
from tests.policies import CAROL_REVIEWS_DEV_ADMIN_ONLY, contractor_dave

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


def test_bulk_says_up_front_which_requests_it_skips_and_why(login, make_request, apply_yaml, user):
    apply_yaml(CONTRACTOR)
    apply_yaml("kind: user\nname: alice\nroles: [engineer, reviewer]\n")
    own = make_request(["db-admin"])
    others = make_request(["db-admin"], by=user("dave"))
    client = login("alice")
    page = client.post(ALL, choose("approve_selected", [own, others]))
    assert page.status_code == 200
    html = page.content.decode()
    ready, skipped = html.split('id="bulk-skipped"')
    assert "dave" in ready.split('id="bulk-ready"')[1] and "Approve 1 request<" in html
    assert "This is your own request" in skipped and "alice" in skipped
    response = client.post(ALL, confirm("approve_selected", [own, others], "fine"))
    assert response.status_code == 302
    said = messages_of(response)
    assert any(m.startswith("You approved dave → db-admin") for m in said)
    assert "1 of 1 requests reviewed. 1 skipped." in said
    assert states(own, others) == [RequestState.PENDING, RequestState.APPROVED]


def test_bulk_skips_what_was_decided_meanwhile_and_says_so(login, make_request, second_reviewer):
    first, second = make_request(["db-admin"]), make_request(["dev-admin"])
    client = login("bob")
    client.post(QUEUE, choose("approve_selected", [first, second]))
    review_submit(request_id=second.pk, reviewer=second_reviewer, state="DENIED", reason="no")
    response = client.post(ALL, confirm("approve_selected", [first, second], "ok"))
    assert "1 of 1 requests reviewed. 1 skipped." in messages_of(response)
    assert states(first, second) == [RequestState.APPROVED, RequestState.DENIED]


def test_bulk_refuses_a_missing_reason_before_reviewing_anything_and_keeps_the_selection(
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
    assert response.status_code == 400
    html = response.content.decode()
    assert "A reason is required: some of these requests need one." in html
    for kept in (needs_reason, no_reason_needed):
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{kept.pk}"' in html
    assert states(needs_reason, no_reason_needed) == [RequestState.PENDING] * 2
    assert not Review.objects.exists()
    done = client.post(
        QUEUE, confirm("approve_selected", [needs_reason, no_reason_needed], "CHG-9")
    )
    assert "2 of 2 requests reviewed." in messages_of(done)


def test_bulk_with_nothing_the_user_may_review_offers_no_button(
    login, make_request, second_reviewer
):
    request = make_request()
    review_submit(request_id=request.pk, reviewer=second_reviewer, state="APPROVED", reason="")
    client = login("bob")
    page = client.post(ALL, choose("deny_selected", [request])).content.decode()
    assert "This request is approved, no longer pending." in page
    assert "None of the selected requests can be reviewed by you." in page
    assert "ap-btn-deny" not in page
    response = client.post(ALL, confirm("deny_selected", [request], "x"))
    assert response.status_code == 409
    said = "None of the selected requests can be reviewed by you."
    assert (response.content.decode() + " ".join(messages_of(response))).count(said) == 1
    assert states(request) == [RequestState.APPROVED]


def test_bulk_is_not_available_to_staff_who_review_nothing(login, make_request):
    """erin audits: she sees every request, yet reviews none; the action is not offered,
    and a crafted confirmation runs nothing."""
    request = make_request()
    client = login("erin")
    listing = client.get(ALL).content.decode()
    assert str(request.pk) in listing  # she sees it…
    assert 'value="approve_selected"' not in listing  # …but is not offered to approve it
    assert 'value="deny_selected"' not in listing
    events = AuditEvent.objects.count()
    client.post(ALL, confirm("approve_selected", [request], "x"))
    assert states(request) == [RequestState.PENDING]
    assert not Review.objects.exists()
    assert AuditEvent.objects.count() == events


def test_bulk_ignores_crafted_ids_of_requests_the_reviewer_cannot_see(
    login, make_request, apply_yaml, user
):
    apply_yaml(CAROL_REVIEWS_DEV_ADMIN_ONLY)
    hidden, mine = make_request(["db-admin"]), make_request(["dev-admin"])
    carol = user("carol")
    assert not AccessRequest.objects.visible_to(carol).filter(pk=hidden.pk).exists()
    client = login("carol")
    page = client.post(ALL, choose("approve_selected", [hidden, mine])).content.decode()
    assert str(mine.pk) in page and str(hidden.pk) not in page
    assert "Approve 1 of 1 selected request" in page
    done = client.post(ALL, confirm("approve_selected", [hidden, mine], "ok"))
    assert "1 of 1 requests reviewed." in messages_of(done)
    assert states(hidden, mine) == [RequestState.PENDING, RequestState.APPROVED]
    assert list(Review.objects.values_list("request_id", flat=True)) == [mine.pk]


def test_bulk_reason_too_long_is_a_400(login, make_request):
    request = make_request()
    response = login("bob").post(QUEUE, confirm("approve_selected", [request], "x" * 5000))
    assert response.status_code == 400
    assert states(request) == [RequestState.PENDING]


def test_a_request_decided_between_the_check_and_the_review_keeps_the_selection(
    login, make_request, two_person, second_reviewer, monkeypatch
):
    """Ready when the confirmation is checked, decided by carol just before bob's review is
    written: that one is reported, the page comes back (409) with the same selection, the
    request now among the skipped and the reason form built for what is still ready."""
    decided_meanwhile, fine = make_request(["db-admin"]), make_request(["dev-admin"])
    real = bulk.review_one

    def carol_first(request, obj, verdict, reason):
        if obj.pk == decided_meanwhile.pk:
            review_submit(request_id=obj.pk, reviewer=second_reviewer, state="DENIED", reason="no")
        return real(request, obj, verdict, reason)

    monkeypatch.setattr(bulk, "review_one", carol_first)
    client = login("bob")
    response = client.post(QUEUE, confirm("approve_selected", [decided_meanwhile, fine], "CAB-1"))
    assert response.status_code == 409
    said = messages_of(response)
    assert "1 of 2 requests reviewed." in said
    assert any("not reviewed: this request is denied, no longer pending" in m for m in said)
    html = response.content.decode()
    for kept in (decided_meanwhile, fine):
        assert f'name="{ACTION_CHECKBOX_NAME}" value="{kept.pk}"' in html
    skipped = html.split('id="bulk-skipped"')[1]
    assert "This request is denied, no longer pending." in skipped
    assert response.context["form"].reason_required is False  # nothing left to review
    assert states(decided_meanwhile, fine) == [RequestState.DENIED, RequestState.PENDING]


def test_bulk_refuses_more_than_it_can_confirm_and_goes_back_to_the_list(
    login, make_request, monkeypatch, settings
):
    assert bulk.MAX_BULK * 2 < settings.DATA_UPLOAD_MAX_NUMBER_FIELDS  # the form fits a POST
    monkeypatch.setattr(bulk, "MAX_BULK", 2)
    requests = [make_request() for _ in range(3)]
    data = {"action": "approve_selected", "index": 0, "select_across": "1"}
    data[ACTION_CHECKBOX_NAME] = [str(requests[0].pk)]
    response = login("bob").post(QUEUE, data)
    assert response.status_code == 302 and response.url == QUEUE
    assert "3 requests selected: review at most 2 at a time" in messages_of(response)[0]
    assert not Review.objects.exists()
