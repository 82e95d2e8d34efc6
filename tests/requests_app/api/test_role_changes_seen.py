"""A change to any role, however it is written, is seen by the very next create and review:
the write paths keep the parsed roles per process (PolicySet.load) only while the roles'
permission version holds."""

from __future__ import annotations

import pytest
from django.db import connection

from policies_app.models import Role
from requests_app.services.access_requests import access_request_create
from tests.requests_app.api.conftest import url


def create(client, role: str):
    return client.post(url("requests/"), {"roles": [role], "reason": "INC-1"}, format="json")


def rename(old: str, new: str) -> None:
    with connection.cursor() as cursor:  # no save(), no signal: only the trigger sees it
        cursor.execute("UPDATE policies_app_role SET name = %s WHERE name = %s", [new, old])


def test_a_role_renamed_by_raw_sql_is_refused_on_the_next_create(api):
    alice = api("alice")
    assert create(alice, "db-admin").status_code == 201
    rename("db-admin", "db-owner")
    assert create(alice, "db-admin").status_code == 403


@pytest.mark.parametrize("how", ["queryset", "loader"])
def test_a_role_no_longer_requestable_is_refused_on_the_next_create(api, apply_yaml, how):
    alice = api("alice")
    assert create(alice, "dev-admin").status_code == 201
    if how == "queryset":
        Role.objects.filter(name="dev-admin").delete()
    else:
        apply_yaml("kind: role\nname: engineer\n")  # alice's role, without its request rules
    assert create(alice, "dev-admin").status_code == 403


def test_a_reviewer_role_losing_its_review_rule_is_refused_on_the_next_review(api, requester):
    bob = api("bob")
    first = access_request_create(requester=requester, roles=["db-admin"], reason="INC-2")
    second = access_request_create(requester=requester, roles=["db-admin"], reason="INC-3")
    body = {"state": "APPROVED", "reason": "ok"}
    answer = bob.post(url(f"requests/{first.id}/reviews/"), body, format="json")
    assert answer.status_code == 201
    spec = Role.objects.get(name="reviewer").spec
    Role.objects.filter(name="reviewer").update(spec={**spec, "allow": {}})
    answer = bob.post(url(f"requests/{second.id}/reviews/"), body, format="json")
    assert answer.status_code in (403, 404), answer.content
