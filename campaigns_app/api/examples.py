"""Examples of the access review endpoints, for the OpenAPI schema."""

from __future__ import annotations

from requests_app.api.examples import error, example, page

ITEM = {
    "id": 12,
    "run": 4,
    "access_review": "quarterly-prod",
    "deadline": "2026-04-15T09:00:00Z",
    "user": "alice",
    "role": "db-admin",
    "sources": ["policy", "sso:okta"],
    "returns_from": ["sso:okta"],
    "decision": "",
    "reason": "",
    "decided_by": "",
    "decided_at": None,
    "outcome": "",
    "note": "",
}
DECIDED = ITEM | {
    "decision": "REMOVE",
    "reason": "left the payments team",
    "decided_by": "carol",
    "decided_at": "2026-04-03T10:12:00Z",
    "outcome": "removed",
    "note": "removed here, but sso:okta gives it back on the next sign-in or directory push: "
    "remove it at the identity provider",
}
RUN = {
    "id": 4,
    "name": "quarterly-prod",
    "state": "OPEN",
    "started": "2026-04-01T09:00:00Z",
    "started_by": "system",
    "deadline": "2026-04-15T09:00:00Z",
    "closed": None,
    "on_missed": "remove",
}
ROW = {
    "user": "alice",
    "role": "db-admin",
    "sources": "policy, sso:okta",
    "decision": "REMOVE",
    "outcome": "removed",
    "decided_by": "carol",
    "decided_at": "2026-04-03T10:12:00+00:00",
    "reason": "left the payments team",
    "note": "",
}

ITEMS = [example("carol's open items", page(ITEM))]
ITEM_ONE = [example("an open item", ITEM)]
DECISION = [
    example("a reason", {"reason": "left the payments team"}, request=True),
    example("decided", DECIDED),
    error("Own membership", "nobody reviews their own membership", "self_review", 403),
    error("Decided before", "this item was already decided (kept)", "conflict", 409),
    error("No reason", "give a reason for the decision", "reason_required", 422, "reason"),
]
RUNS = [example("runs", page(RUN))]
RUN_ONE = [example("a run", RUN)]
REPORT = [example("the report as JSON", [ROW])]
