"""`GET requests/?id_prefix=`: a request by the first hex digits of its id, as `accessctl`
takes it (`accessctl request show 3f2c9d1e`), within what the caller may see."""

from __future__ import annotations

import pytest

from requests_app.services.access_requests import access_request_create
from tests.requests_app.api.conftest import url


def ids(response) -> set[str]:
    assert response.status_code == 200, response.json()
    return {item["id"] for item in response.json()["results"]}


@pytest.fixture
def three(api_policy, requester):
    """Three of alice's requests."""
    return [
        str(access_request_create(requester=requester, roles=["db-admin"], reason=f"INC-{n}").id)
        for n in range(3)
    ]


@pytest.mark.parametrize(
    "cut",
    [
        lambda i: i[:4],
        lambda i: i[:8],
        lambda i: i[:9],  # "3f2c9d1e-": the dash as written
        lambda i: i[:11].upper(),
        lambda i: i,
    ],
    ids=["4 digits", "8 digits", "with dash", "upper case", "whole id"],
)
def test_prefix_selects_the_requests_whose_id_begins_so(api, three, cut):
    prefix = cut(three[1])
    got = ids(api("alice").get(url("requests/"), {"id_prefix": prefix}))
    assert three[1] in got
    assert got == {i for i in three if i.startswith(prefix.lower())}


def test_a_prefix_of_no_request_finds_nothing(api, three):
    unused = next(
        f"{n:04x}" for n in range(65536) if not any(i.startswith(f"{n:04x}") for i in three)
    )
    assert ids(api("alice").get(url("requests/"), {"id_prefix": unused})) == set()


def test_prefix_stays_within_what_the_caller_may_see(api, three):
    assert ids(api("oscar").get(url("requests/"), {"id_prefix": three[0][:8]})) == set()


@pytest.mark.parametrize(
    "prefix",
    ["3f2", "3f2c9d1e0", "3f2c-9d1e", "zzzz", "3f2c9d1e-0000-4000-8000-0000000000011"],
)
def test_a_prefix_that_cannot_begin_an_id_is_400_naming_the_parameter(api, three, prefix):
    response = api("alice").get(url("requests/"), {"id_prefix": prefix})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" or body.get("field") == "id_prefix", body
    assert "id_prefix" in body.get("errors", {}), body
