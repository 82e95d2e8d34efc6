"""Approve or deny from the email: each reviewer's email carries a one-time, expiring, signed
link to a confirmation page. Opening it changes nothing; the POST reviews; the link works
once, for that reviewer only, until it expires, and says clearly when it cannot be used."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from requests_app.models import AccessRequest, Review, ReviewLink
from requests_app.services.notifications import outbox_dispatch, outbox_messages_due
from requests_app.services.review_links import review_link_issue
from tests.requests_app.portal.conftest import _client_for
from tests.requests_app.test_notifications import EMAILS

LINK = re.compile(r"http://127\.0\.0\.1:8000(/reviews/link/[^/\s]+/)")


@pytest.fixture
def token(pending_request, reviewer):
    return review_link_issue(request=pending_request, reviewer=reviewer)


def _url(token: str) -> str:
    return f"/reviews/link/{token}/"


def test_the_email_to_each_reviewer_carries_their_own_link(apply_yaml, requester, user):
    apply_yaml(EMAILS)
    from requests_app.services.access_requests import access_request_create

    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    assert sum(outbox_dispatch(message_id=pk) for pk in outbox_messages_due()) == 2
    links = {}
    for email in mail.outbox:
        (path,) = LINK.findall(email.body)
        assert path in email.alternatives[0][0]
        links[email.to[0]] = path
    assert len(set(links.values())) == 2
    rows = ReviewLink.objects.filter(request=request)
    assert sorted(r.reviewer.username for r in rows) == ["bob", "carol"]
    # Only a hash is stored: the token is in the email, not in the database.
    for path in links.values():
        token = path.split("/")[3]
        digest = hashlib.sha256(token.encode()).hexdigest()
        assert rows.filter(token_hash=digest).exists()
        assert not ReviewLink.objects.filter(token_hash=token).exists()
    # bob's link is bob's: carol cannot use it.
    bob_path = links["bob@example.com"]
    assert _client_for(user("carol")).get(bob_path).status_code == 403
    assert _client_for(user("bob")).get(bob_path).status_code == 200


def test_opening_the_link_shows_a_confirmation_and_changes_nothing(
    bob_client, token, pending_request
):
    page = bob_client.get(_url(token))
    assert page.status_code == 200
    assert b"Confirm your review" in page.content and b"INC-42 disk full" in page.content
    assert not Review.objects.exists()
    assert ReviewLink.objects.get().used_at is None
    assert AccessRequest.objects.get(pk=pending_request.pk).state == "PENDING"


def test_the_post_reviews_once_and_a_second_use_is_refused(bob_client, token, pending_request):
    answer = bob_client.post(_url(token), {"state": "APPROVED", "reason": "looks right"})
    assert answer.status_code == 302
    assert answer["Location"] == f"/requests/{pending_request.pk}/"
    review = Review.objects.get()
    assert (review.reviewer.username, review.state, review.reason) == (
        "bob",
        "APPROVED",
        "looks right",
    )
    assert AccessRequest.objects.get(pk=pending_request.pk).state == "APPROVED"
    assert ReviewLink.objects.get().used_at is not None
    assert AuditEvent.objects.filter(action="review_link.used", actor=review.reviewer).count() == 1
    again = bob_client.post(_url(token), {"state": "DENIED", "reason": "changed my mind"})
    assert again.status_code == 410
    assert b"already used" in again.content
    assert bob_client.get(_url(token)).status_code == 410
    assert Review.objects.count() == 1


def test_an_expired_link_says_so(bob_client, pending_request, reviewer, settings):
    settings.ACCESSPORTAL_REVIEW_LINK_TTL = 600
    token = review_link_issue(request=pending_request, reviewer=reviewer)
    with time_machine.travel(timezone.now() + timedelta(minutes=10, seconds=1)):
        page = bob_client.get(_url(token))
        assert page.status_code == 410
        assert b"expired" in page.content
        refused = bob_client.post(_url(token), {"state": "APPROVED", "reason": "ok"})
        assert refused.status_code == 410
    assert not Review.objects.exists()


def test_a_link_never_outlives_the_requests_pending_time(requester, reviewer):
    from requests_app.services.access_requests import access_request_create

    request = access_request_create(
        requester=requester, roles=["db-admin"], reason="x", request_ttl="1h"
    )
    review_link_issue(request=request, reviewer=reviewer)
    assert ReviewLink.objects.get().expires == request.expires


def test_a_link_never_outlives_the_reviewers_review_window(apply_yaml, requester, user):
    from requests_app.services.access_requests import access_request_create
    from tests.policies import WINDOWED_REVIEWERS

    apply_yaml(WINDOWED_REVIEWERS)  # hank's rule: request.pending_for < duration("1h")
    request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
    review_link_issue(request=request, reviewer=user("hank"))
    assert ReviewLink.objects.get().expires == request.created + timedelta(hours=1)


def test_a_link_opened_by_another_signed_in_user_is_refused(second_reviewer, token):
    carol = _client_for(second_reviewer)
    page = carol.get(_url(token))
    assert page.status_code == 403
    assert b"sent to someone else" in page.content
    assert carol.post(_url(token), {"state": "APPROVED", "reason": "ok"}).status_code == 403
    assert not Review.objects.exists()
    assert ReviewLink.objects.get().used_at is None


def test_a_reviewer_who_may_no_longer_see_the_request_gets_not_found(
    apply_yaml, bob_client, token, pending_request, reviewer
):
    # bob's reviewer role is taken away after his email went out: the request is gone
    # from his view, and his link shows nothing of it, on GET or POST.
    apply_yaml("kind: user\nname: bob\nroles: []\n")
    assert bob_client.get(f"/requests/{pending_request.pk}/").status_code == 404
    page = bob_client.get(_url(token))
    assert page.status_code == 404
    assert b"no longer be used" in page.content
    assert b"INC-42 disk full" not in page.content and b"alice" not in page.content
    answer = bob_client.post(_url(token), {"state": "APPROVED", "reason": "ok"})
    assert answer.status_code == 404 and b"INC-42 disk full" not in answer.content
    assert not Review.objects.exists()
    assert ReviewLink.objects.get().used_at is None


def test_signing_in_is_required(client, token):
    page = client.get(_url(token))
    assert page.status_code == 302 and "login/?next=/reviews/link/" in page["Location"]


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-2] + "xx", lambda t: "nonsense", lambda t: t + "a"]
)
def test_a_forged_or_altered_link_is_not_found(bob_client, token, tamper):
    page = bob_client.get(_url(tamper(token)))
    assert page.status_code == 404
    assert b"not valid" in page.content


def test_nobody_gets_a_link_for_a_request_they_may_not_review(pending_request, outsider, requester):
    assert review_link_issue(request=pending_request, reviewer=outsider) is None
    assert review_link_issue(request=pending_request, reviewer=requester) is None
    assert not ReviewLink.objects.exists()


def test_a_request_resolved_meanwhile_is_said_up_front(bob_client, token, pending_request, user):
    from requests_app.services.reviews import review_submit

    review_submit(
        request_id=pending_request.id, reviewer=user("carol"), state="DENIED", reason="no"
    )
    page = bob_client.get(_url(token))
    assert page.status_code == 200
    assert b"link-refusal" in page.content and b"Approve</button>" not in page.content
    refused = bob_client.post(_url(token), {"state": "APPROVED", "reason": "ok"})
    assert refused.status_code == 409
    assert ReviewLink.objects.get().used_at is None


@pytest.mark.postgres
def test_two_submissions_of_one_link_at_once_review_once(transactional_db, apply_yaml):
    from django.contrib.auth import get_user_model

    from requests_app.services.access_requests import access_request_create
    from requests_app.services.review_links import LinkUsed, review_link_redeem
    from tests.concurrency import run_together
    from tests.conftest import BASE_POLICY

    apply_yaml(BASE_POLICY)
    users = get_user_model().objects
    request = access_request_create(
        requester=users.get(username="alice"), roles=["db-admin"], reason="INC-5"
    )
    token = review_link_issue(request=request, reviewer=users.get(username="bob"))

    def submit():
        return review_link_redeem(
            token=token, user=users.get(username="bob"), state="APPROVED", reason="ok"
        )

    outcomes = run_together(submit, submit)
    assert sum(o.ok for o in outcomes) == 1
    (failed,) = [o for o in outcomes if not o.ok]
    assert isinstance(failed.error, LinkUsed), failed.error
    assert Review.objects.count() == 1
    assert ReviewLink.objects.get().used_at is not None
    assert AuditEvent.objects.filter(action="review_link.used").count() == 1
