"""Signed-in test clients for the portal's personas, and shortcuts to make requests."""

from __future__ import annotations

import pytest
from django.test import Client

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def alice_client(requester):
    return _client_for(requester)


@pytest.fixture
def bob_client(reviewer):
    return _client_for(reviewer)


@pytest.fixture
def mallory_client(outsider):
    return _client_for(outsider)


@pytest.fixture
def pending_request(requester):
    return access_request_create(
        requester=requester, roles=["db-admin"], reason="INC-42 disk full", max_duration="2h"
    )


@pytest.fixture
def approved_request(requester, reviewer):
    request = access_request_create(
        requester=requester, roles=["db-admin"], reason="INC-42 disk full", max_duration="2h"
    )
    return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED", reason="ok")
