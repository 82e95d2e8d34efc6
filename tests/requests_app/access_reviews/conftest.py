"""Access review personas, on top of the base policy (tests/conftest.py): bob and carol
hold `reviewer` and review each other's membership of it (reviewer_roles: [reviewer]); erin
the auditor may read every run and report; sam may start runs by hand."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_POLICY

REVIEW_POLICY = """
---
kind: role
name: review-auditor
spec:
  allow:
    permissions: [requests_app.view_campaignrun]
---
kind: user
name: ada
roles: [review-auditor]
---
kind: role
name: campaign-owner
spec:
  allow:
    permissions: [requests_app.start_campaignrun]
---
kind: user
name: sam
roles: [campaign-owner]
---
kind: access_review
name: reviewers-recert
spec:
  roles: ["reviewe*"]
  reviewer_roles: [reviewer]
  duration: 7d
  remind_before: 1d
  on_missed: {on_missed}
"""


def review_policy(on_missed: str = "remove", extra: str = "") -> str:
    return BASE_POLICY + REVIEW_POLICY.replace("{on_missed}", on_missed) + extra


@pytest.fixture
def review_setup(apply_yaml):
    apply_yaml(review_policy())
