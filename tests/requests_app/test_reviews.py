"""Dual authorization, one review per reviewer, PENDING-only, no recursive elevation."""

from __future__ import annotations

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.errors import AlreadyReviewed, NotAllowed, NotPending, SelfReviewRefused
from accessportal.kernel.models import AuditEvent
from requests_app.models import Review
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import access_request_withdraw
from requests_app.services.reviews import review_submit
from tests.policies import engineer_requests


def test_reviewer_approves_and_grant_is_created(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
    request = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    assert request.state == RequestState.APPROVED
    assert [g.role for g in request.grants.all()] == ["db-admin"]
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions[-3:] == ["request.created", "review.submitted", "request.approved"]


def test_self_review_is_refused(requester, apply_yaml):
    apply_yaml("kind: user\nname: alice\nroles: [engineer, reviewer]\n")
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(SelfReviewRefused):
        review_submit(request_id=request.id, reviewer=requester, state="APPROVED")
    assert not Review.objects.exists()


def test_self_review_is_refused_for_superusers(admin, apply_yaml):
    apply_yaml("kind: user\nname: root\nroles: [engineer, reviewer]\n")
    request = access_request_create(requester=admin, roles=["db-admin"])
    with pytest.raises(SelfReviewRefused):
        review_submit(request_id=request.id, reviewer=admin, state="APPROVED")
    request.refresh_from_db()
    assert request.state == RequestState.PENDING


def test_second_review_by_same_reviewer_is_refused(requester, reviewer, apply_yaml):
    apply_yaml(engineer_requests("thresholds: [{name: pair, approve: 2}]"))
    request = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    with pytest.raises(AlreadyReviewed):
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    assert Review.objects.filter(request=request).count() == 1


def test_one_review_per_reviewer_is_a_database_constraint(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    Review.objects.create(
        request=request, reviewer=reviewer, state="DENIED", created=timezone.now()
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(
            request=request, reviewer=reviewer, state="APPROVED", created=timezone.now()
        )


def test_review_of_a_resolved_request_is_refused(requester, reviewer, second_reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    review_submit(request_id=request.id, reviewer=reviewer, state="DENIED", reason="no ticket")
    with pytest.raises(NotPending, match="denied"):
        review_submit(request_id=request.id, reviewer=second_reviewer, state="APPROVED")


def test_review_of_a_withdrawn_request_is_refused(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    access_request_withdraw(request_id=request.id, actor=requester)
    with pytest.raises(NotPending):
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


def test_review_after_pending_ttl_is_refused_even_before_the_sweep(requester, reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"], request_ttl="1h")
    expired = pytest.raises(NotPending, match="expired")
    with time_machine.travel(request.expires, tick=False), expired:
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    request.refresh_from_db()
    assert request.state == RequestState.PENDING  # the sweep records it, not the refusal


def test_outsider_cannot_review(requester, outsider):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(NotAllowed):
        review_submit(request_id=request.id, reviewer=outsider, state="APPROVED")


def test_superuser_without_review_roles_cannot_review(requester, admin):
    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(NotAllowed):
        review_submit(request_id=request.id, reviewer=admin, state="APPROVED")


def test_granted_review_role_does_not_allow_reviewing(requester, reviewer, user, apply_yaml):
    # alice gets the `reviewer` role through a grant: it must not let her review.
    granted = access_request_create(requester=requester, roles=["reviewer"])
    assert (
        review_submit(request_id=granted.id, reviewer=reviewer, state="APPROVED").state
        == "APPROVED"
    )
    apply_yaml("kind: user\nname: mallory\nroles: [engineer]\n")
    others = access_request_create(requester=user("mallory"), roles=["dev-admin"])
    with pytest.raises(NotAllowed):
        review_submit(request_id=others.id, reviewer=requester, state="APPROVED")


def test_review_where_clause_limits_reviewers(requester, apply_yaml, user):
    apply_yaml(
        """
kind: role
name: pay-reviewer
spec:
  allow:
    review_requests:
      roles: [db-admin]
      where: 'contains(request.reason, "pay")'
---
kind: user
name: paula
roles: [pay-reviewer]
"""
    )
    other = access_request_create(requester=requester, roles=["db-admin"], reason="web outage")
    with pytest.raises(NotAllowed):
        review_submit(request_id=other.id, reviewer=user("paula"), state="APPROVED")
    mine = access_request_create(requester=requester, roles=["db-admin"], reason="pay incident")
    assert (
        review_submit(request_id=mine.id, reviewer=user("paula"), state="APPROVED").state
        == "APPROVED"
    )


def test_resource_request_is_reviewed_by_reviewers_of_the_reaching_role(
    requester, reviewer, outsider
):
    request = access_request_create(requester=requester, resources=["node/db-prod-1"])
    assert request.policy["review_roles"] == {"resource:node/db-prod-1": ["prod-access"]}
    with pytest.raises(NotAllowed):
        review_submit(request_id=request.id, reviewer=outsider, state="APPROVED")
    approved = review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    assert [g.resource for g in approved.grants.all()] == ["node/db-prod-1"]


def test_bad_review_state_is_refused(requester, reviewer):
    from accessportal.kernel.errors import ValidationFailed

    request = access_request_create(requester=requester, roles=["db-admin"])
    with pytest.raises(ValidationFailed):
        review_submit(request_id=request.id, reviewer=reviewer, state="MAYBE")
