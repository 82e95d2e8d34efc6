"""What a user may request, as the portal and API list it."""

from __future__ import annotations

import pytest

from policies_app.catalog import (
    parse_label_filter,
    requestable_resources,
    requestable_roles,
    resource_kinds_requestable,
)
from tests.policies import CAPPED


def test_requestable_roles_are_allowed_not_denied_not_held(requester):
    assert [r.name for r in requestable_roles(requester)] == ["db-admin", "dev-admin", "reviewer"]


def test_nobody_with_no_roles_may_request_anything(outsider):
    assert requestable_roles(outsider) == []
    assert requestable_resources(outsider) == []
    assert resource_kinds_requestable(outsider) == []


def test_role_cap_is_the_largest_allowing_rule_and_reason_rule_shown(requester, apply_yaml):
    apply_yaml(CAPPED)
    roles = {r.name: r.rule for r in requestable_roles(requester)}
    assert roles["db-admin"].max_duration == 86400  # oncall's 1d beats engineer's 2h
    assert roles["dev-admin"].max_duration == 7200
    assert roles["dev-admin"].reason_required
    assert roles["dev-admin"].reason_prompt == "Ticket number"


def test_resources_reached_by_search_as_roles_only(requester):
    found = requestable_resources(requester)
    assert [r.resource_id for r in found] == ["node/db-prod-1"]  # not node/web-dev-1, db/billing
    assert found[0].labels == {"env": "prod", "team": "pay"} and found[0].rule.max_duration == 28800


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "node"}, ["node/db-prod-1", "node/pay-prod-2"]),
        ({"kind": "db"}, []),
        ({"search": "PAY"}, ["node/pay-prod-2"]),
        ({"labels": {"team": "pay"}}, ["node/db-prod-1"]),
        ({"labels": {"team": "web"}}, ["node/pay-prod-2"]),
        ({"labels": {"contains": "x"}}, []),
        ({"ids": ["node/pay-prod-2", "node/web-dev-1"]}, ["node/pay-prod-2"]),
        ({"limit": 1}, ["node/db-prod-1"]),
    ],
)
def test_resource_search_filters(requester, apply_yaml, filters, expected):
    apply_yaml("kind: resource\nid: node/pay-prod-2\nlabels: {env: prod, team: web}\n")
    assert [r.resource_id for r in requestable_resources(requester, **filters)] == expected


def test_kinds_listed_are_those_a_search_as_role_reaches(requester):
    assert resource_kinds_requestable(requester) == ["node"]


def test_label_filter_parsing():
    assert parse_label_filter("env=prod, team=pay") == {"env": "prod", "team": "pay"}
    assert parse_label_filter("  ") == {}
    with pytest.raises(ValueError, match="key=value"):
        parse_label_filter("env")
