"""Caps and the reason rule: the create service applies, item by item, the rule the catalog
shows (`policies_app.catalog.request_rule`), so the portal never promises what the service
then refuses or lowers."""

from __future__ import annotations

import pytest

from accessportal.kernel.errors import ValidationFailed
from policies_app.catalog import requestable_resources, requestable_roles
from requests_app.services.access_requests import access_request_create
from tests.policies import CAPPED

pytestmark = pytest.mark.django_db


def _shown(requester) -> dict:
    rules = {f"role:{r.name}": r.rule for r in requestable_roles(requester)}
    rules |= {f"resource:{r.resource_id}": r.rule for r in requestable_resources(requester)}
    return rules


@pytest.mark.parametrize(
    ("roles", "resources"),
    [
        (["db-admin"], []),
        (["dev-admin"], []),
        (["db-admin", "dev-admin"], []),
        ([], ["node/db-prod-1"]),
        (["db-admin"], ["node/db-prod-1"]),
    ],
)
def test_the_service_caps_and_asks_a_reason_as_the_catalog_shows(
    requester, apply_yaml, roles, resources
):
    apply_yaml(CAPPED)
    shown = _shown(requester)
    items = [shown[f"role:{r}"] for r in roles] + [shown[f"resource:{r}"] for r in resources]
    request = access_request_create(
        requester=requester, roles=roles, resources=resources, reason="INC-1", max_duration="3d"
    )
    assert request.max_duration == min(rule.max_duration for rule in items)
    assert request.policy["reason_required"] == any(rule.reason_required for rule in items)
    if request.policy["reason_required"]:
        with pytest.raises(ValidationFailed, match="Ticket number"):
            access_request_create(requester=requester, roles=roles, resources=resources)
