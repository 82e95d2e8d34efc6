"""The desk's "why you cannot review this" is the review service's own refusal, in the
service's order: what the desk says is what `review_submit` would refuse with."""

from __future__ import annotations

import pytest

from accessportal.kernel.errors import (
    AlreadyReviewed,
    DomainError,
    NotAllowed,
    NotPending,
    SelfReviewRefused,
)
from requests_app.admin.details import why_not_reviewable
from requests_app.services.reviews import review_refusal, review_submit
from tests.policies import contractor_dave

ALICE_REVIEWS = "kind: user\nname: alice\nroles: [engineer, reviewer]\n"


def refused_with(request, reviewer) -> type[DomainError] | None:
    try:
        review_submit(request_id=request.pk, reviewer=reviewer, state="APPROVED", reason="ok")
    except DomainError as err:
        return type(err)
    return None


def test_own_request_already_decided_is_refused_as_own_not_as_decided(
    make_request, apply_yaml, user, reviewer
):
    apply_yaml(contractor_dave())
    apply_yaml(ALICE_REVIEWS)
    alice = user("alice")
    own = make_request(["db-admin"])
    review_submit(request_id=own.pk, reviewer=reviewer, state="APPROVED", reason="ok")
    own.refresh_from_db()
    assert why_not_reviewable(own, alice).startswith("This is your own request")
    assert isinstance(review_refusal(own, alice), SelfReviewRefused)
    assert refused_with(own, alice) is SelfReviewRefused


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        ("outsider on a decided request", NotAllowed, "Your standing roles do not allow"),
        ("decided", NotPending, "This request is approved, no longer pending."),
        ("reviewed", AlreadyReviewed, "You have reviewed this request."),
    ],
)
def test_the_desk_says_what_the_service_refuses(
    case, error, words, make_request, two_person, reviewer, second_reviewer, outsider
):
    request = make_request(["db-admin"])
    review_submit(request_id=request.pk, reviewer=reviewer, state="APPROVED", reason="one")
    viewer = reviewer
    if case != "reviewed":
        review_submit(request_id=request.pk, reviewer=second_reviewer, state="APPROVED", reason="2")
        viewer = outsider if case.startswith("outsider") else reviewer
    request.refresh_from_db()
    # "decided": bob reviewed it too, yet it is refused as decided first, as by the service
    assert isinstance(review_refusal(request, viewer), error)
    assert refused_with(request, viewer) is error
    assert why_not_reviewable(request, viewer).startswith(words)


def test_nothing_refused_reads_as_nothing_to_say(make_request, reviewer):
    request = make_request()
    assert review_refusal(request, reviewer) is None
    assert why_not_reviewable(request, reviewer) == ""
