"""Fixtures shared by the requests_app tests: an audit history, and the chain head that
transactional tests must put back."""

from __future__ import annotations

import pytest

from accessportal.kernel.models import AuditChainHead, AuditEvent
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

# The engine's test provisioner (a real plugin installed by entry point) and its helpers,
# for the surfaces' tests too (api/, admin/, portal/ show provisioning state).
from tests.requests_app.provisioning.conftest import approve, groups, plugin, work  # noqa: F401


@pytest.fixture
def chain_head(transactional_db):
    """transactional_db empties every table after each test, the audit chain head (written
    by a data migration) included: put it back."""
    AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": "0" * 64})


@pytest.fixture
def history(requester, reviewer):
    """Three of alice's db-admin requests, each approved by bob: the audit events, in order."""
    for _ in range(3):
        request = access_request_create(requester=requester, roles=["db-admin"], reason="INC-1")
        review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
    return list(AuditEvent.objects.order_by("seq"))
