"""Fixtures for the admin review desk: staff personas logged in, requests in flight."""

from __future__ import annotations

import pytest
from django.test import Client

from requests_app.services.access_requests import access_request_create
from tests.policies import ENGINEER_ROLES, REASON_REQUIRED, SEARCH_PROD, engineer_requests

TWO_PERSON = engineer_requests(
    SEARCH_PROD,
    "thresholds: [{name: two-person, approve: 2, deny: 1}]",
    REASON_REQUIRED,
    roles=ENGINEER_ROLES,
)


@pytest.fixture
def staff(base_policy, user):
    """Make personas staff (admin needs it) and return them: staff("bob", "alice")."""

    def _make(*names: str):
        people = []
        for name in names:
            person = user(name)
            person.is_staff = True
            person.save(update_fields=["is_staff"])
            people.append(person)
        return people[0] if len(people) == 1 else people

    return _make


@pytest.fixture
def login(staff):
    """A test client logged in as a staff persona: login("bob")."""

    def _login(name: str) -> Client:
        client = Client()
        client.force_login(staff(name))
        return client

    return _login


@pytest.fixture
def root_client(admin) -> Client:
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def make_request(requester):
    """A PENDING request by alice (or `by`), created through the service."""

    def _make(roles=("db-admin",), *, by=None, reason="INC-42: restore billing", **kwargs):
        return access_request_create(
            requester=by or requester, roles=list(roles), reason=reason, **kwargs
        )

    return _make


@pytest.fixture
def two_person(apply_yaml, base_policy):
    """alice's requests need two approvals and a reason."""
    apply_yaml(TWO_PERSON)
