"""Query budgets: a list costs the same number of queries for 1 row as for 20 (no N+1),
and the access check stays a few indexed queries."""

from __future__ import annotations

import pytest

from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from tests.requests_app.api.conftest import url

# (persona, path, query, budget): the measured counts are in the API section of README.md.
LISTS = [
    ("alice", "requests/", {}, 10),
    ("bob", "requests/", {"scope": "needs_review"}, 10),
    ("bob", "requests/", {"scope": "reviewed"}, 10),
    ("erin", "requests/", {"state": "APPROVED"}, 10),
    ("alice", "grants/", {"active": "true"}, 10),
    ("erin", "grants/", {}, 10),
    ("erin", "audit/", {}, 8),
    ("alice", "roles/", {}, 6),
    ("alice", "resources/", {}, 6),
    ("alice", "me/", {}, 6),
]


@pytest.fixture
def populate(api_policy, apply_yaml, requester, reviewer):
    """n pending and n approved requests of alice (with reviews and grants), n extra roles
    that alice may request, and n production nodes she may request."""

    def _populate(n: int) -> None:
        roles = "".join(f"---\nkind: role\nname: extra-{i}\n" for i in range(n))
        nodes = "".join(
            f"---\nkind: resource\nid: node/prod-{i}\nlabels: {{env: prod}}\n" for i in range(n)
        )
        apply_yaml(roles + nodes)
        for _ in range(n):
            access_request_create(requester=requester, roles=["dev-admin"], reason="x")
            done = access_request_create(requester=requester, roles=["db-admin"], reason="y")
            review_submit(request_id=done.id, reviewer=reviewer, state="APPROVED")

    return _populate


def count_queries(client, path: str, query: dict, budget: int, assert_max) -> tuple[int, int]:
    with assert_max(budget) as captured:
        response = client.get(url(path), query)
    assert response.status_code == 200
    body = response.json()
    rows = len(body["results"]) if "results" in body else len(body["active_grants"])
    return len(captured), rows


@pytest.mark.parametrize(("persona", "path", "query", "budget"), LISTS)
def test_list_queries_do_not_grow_with_rows(
    api, populate, django_assert_max_num_queries, persona, path, query, budget
):
    client = api(persona)
    populate(1)
    small, small_rows = count_queries(client, path, query, budget, django_assert_max_num_queries)
    populate(19)
    large, large_rows = count_queries(client, path, query, budget, django_assert_max_num_queries)
    assert large_rows > small_rows >= 1
    assert large == small, (path, query, small_rows, small, large_rows, large)


@pytest.mark.parametrize(
    ("persona", "query", "budget"),
    [
        ("alice", {"role": "db-admin"}, 3),
        ("alice", {"resource": "db/billing"}, 5),
        ("ivy", {"user": "alice", "role": "db-admin"}, 8),
    ],
)
def test_access_check_is_a_few_queries(
    api, approved, django_assert_max_num_queries, persona, query, budget
):
    client = api(persona)
    with django_assert_max_num_queries(budget):
        response = client.get(url("access/check/"), query)
    assert response.json()["allowed"] is True


def test_request_detail_is_a_fixed_number_of_queries(api, approved, django_assert_max_num_queries):
    client = api("bob")
    with django_assert_max_num_queries(7):
        response = client.get(url(f"requests/{approved.id}/"))
    assert response.status_code == 200
