"""Policy YAML the tests share, so that a test states only what differs from the personas'
base policy (tests/conftest.py, BASE_POLICY): alice is an engineer, bob and carol review.

`engineer_requests(...)` re-declares alice's engineer role with other request rules;
`contractor_dave(...)` adds dave, a contractor; CAROL_REVIEWS_DEV_ADMIN_ONLY narrows carol.
"""

from __future__ import annotations

import textwrap

# What the base policy lets an engineer request, and search as.
ENGINEER_ROLES = "[db-admin, dev-admin, reviewer]"
SEARCH_PROD = "search_as_roles: [prod-access]"
REASON_REQUIRED = 'reason: {mode: required, prompt: "Ticket number and why"}'


def requesting_role(name: str, *rules: str, roles: str = "[db-admin]") -> str:
    """A role whose holders may request `roles`, under `rules`: entries of its
    `allow.request`, each one line of YAML (or lines with their own indentation)."""
    entries = "\n".join(textwrap.dedent(rule).strip() for rule in (f"roles: {roles}", *rules))
    return (
        f"kind: role\nname: {name}\nspec:\n  allow:\n    request:\n"
        f"{textwrap.indent(entries, ' ' * 6)}\n"
    )


def engineer_requests(*rules: str, roles: str = "[db-admin]") -> str:
    """alice's engineer role, re-declared: it may request `roles` under `rules`, e.g.
    engineer_requests("thresholds: [{approve: 2}]")."""
    return requesting_role("engineer", *rules, roles=roles)


def contractor_dave(*rules: str) -> str:
    """dave, a contractor who may request db-admin under `rules`."""
    return (
        requesting_role("contractor", *rules) + "---\nkind: user\nname: dave\nroles: [contractor]\n"
    )


# carol becomes a dev lead: she reviews dev-admin requests only.
CAROL_REVIEWS_DEV_ADMIN_ONLY = """
kind: role
name: dev-lead
spec:
  allow:
    review_requests: {roles: [dev-admin]}
---
kind: user
name: carol
roles: [dev-lead]
"""
