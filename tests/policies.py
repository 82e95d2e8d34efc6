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


# Caps and a required reason on alice's engineer rules, a longer cap for db-admin through
# oncall: what the catalog shows and what the create service applies (one rule).
CAPPED = """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin, dev-admin]
      search_as_roles: [prod-access]
      max_duration: 2h
      reason: {mode: required, prompt: "Ticket number"}
---
kind: role
name: oncall
spec:
  allow:
    request:
      roles: [db-admin]
      max_duration: 1d
---
kind: user
name: alice
roles: [engineer, oncall]
"""


def engineers_and_reviewers(engineers: list[str], reviewers: list[str]) -> str:
    """A whole small company for tests against a deployed service (tests/deploy): engineers
    who may request db-admin and reviewers who review it, nothing else."""
    users = [(n, "engineer") for n in engineers] + [(n, "reviewer") for n in reviewers]
    return (
        "kind: role\nname: engineer\nspec:\n  allow:\n    request: {roles: [db-admin]}\n"
        "---\nkind: role\nname: db-admin\n"
        "---\nkind: role\nname: reviewer\nspec:\n  allow:\n"
        "    review_requests: {roles: [db-admin]}\n"
        + "".join(f"---\nkind: user\nname: {n}\nroles: [{r}]\n" for n, r in users)
    )


# alice may break glass for db-admin (ratify within 1h, the `security` rule told), but not
# for dev-admin; bob (with an address) reviews, so he ratifies. The `security` rule's own
# events do not include break-glass: the policy's `notify` reaches it all the same.
BREAK_GLASS = """
kind: role
name: engineer
spec:
  allow:
    request:
      roles: [db-admin]
      search_as_roles: [prod-access]
      break_glass: {ratify_within: 1h, notify: [security]}
---
kind: role
name: dev-requester
spec:
  allow:
    request:
      roles: [dev-admin]
---
kind: user
name: alice
email: alice@example.com
roles: [engineer, dev-requester]
---
kind: user
name: bob
email: bob@example.com
roles: [reviewer]
---
kind: notification_rule
name: security
spec:
  events: [access.ending_soon]
  channels:
    - {type: email, to: [security@example.com]}
"""


# Holders may propose policy changes and approve others' (the two-person rule): the
# approve right comes only from a standing role like this one. Tests add their users.
POLICY_APPROVER_ROLE = """
kind: role
name: policy-approver
spec:
  allow:
    permissions: [policies_app.approve_policyproposal, policies_app.add_policyproposal]
---
"""


# gina may review db-admin only after 2 h of pending time, hank only in its first hour.
WINDOWED_REVIEWERS = """
kind: role
name: sre
spec:
  allow:
    review_requests:
      roles: [db-admin]
      where: 'request.pending_for > duration("2h")'
---
kind: role
name: first-hour
spec:
  allow:
    review_requests:
      roles: [db-admin]
      where: 'request.pending_for < duration("1h")'
---
kind: user
name: gina
roles: [sre]
---
kind: user
name: hank
roles: [first-hour]
"""

# gina reviews db-admin at once (a profile that is new to a pending request).
ONCALL_REVIEWER = """
kind: role
name: oncall
spec:
  allow:
    review_requests:
      roles: [db-admin]
---
kind: user
name: gina
roles: [oncall]
"""
