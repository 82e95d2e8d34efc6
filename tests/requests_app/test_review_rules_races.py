"""The review-rule job and the sweep racing on one request (two PostgreSQL sessions): the
rules are applied once, one review is written, one approval recorded."""

from __future__ import annotations

from unittest import mock

import pytest

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from requests_app import tasks
from requests_app.models import Review, ReviewRuleCheck
from requests_app.services.access_requests import access_request_create
from requests_app.services.review_rules import review_rules_apply
from tests.concurrency import run_together

pytestmark = pytest.mark.postgres

RULE = """
kind: review_rule
name: db-at-once
spec:
  roles: [db-admin]
  when: 'contains(request.roles, "db-admin")'
  review: {state: APPROVED, reason: at once}
"""


@pytest.mark.parametrize("round_", range(3))
def test_job_and_sweep_at_once_review_one_time(
    transactional_db, apply_yaml, base_policy, user, round_
):
    apply_yaml(RULE)
    with mock.patch.object(tasks.apply_review_rules, "apply_async"):  # its message is lost
        request = access_request_create(requester=user("alice"), roles=["db-admin"])
    assert not Review.objects.filter(request=request).exists()
    outcomes = run_together(*[lambda: review_rules_apply(request_id=request.pk)] * 3)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert sorted(o.value for o in outcomes).count("reviewed by db-at-once: APPROVED") == 1
    request.refresh_from_db()
    assert request.state == RequestState.APPROVED
    assert Review.objects.filter(request=request).count() == 1
    assert ReviewRuleCheck.objects.filter(request=request).count() == 1
    assert (
        AuditEvent.objects.filter(action="request.approved", target_id=str(request.pk)).count() == 1
    )
