"""The policy and claims the identity tests share: three roles, a policy-file user (ada, no
password) and the mapping of a provider (`sso_policy("testop")` renames it)."""

ROLES = """
kind: role
name: engineer
---
kind: role
name: dba
---
kind: role
name: oncall
"""
ADA = """
---
kind: user
name: ada
roles: [engineer]
"""
POLICY = (
    ROLES
    + ADA
    + """traits: {site: [paris]}
---
kind: sso_mapping
name: okta
spec:
  traits: {team: department}
  claims_to_roles:
    - {claim: groups, value: "eng-*", roles: [engineer]}
    - {claim: groups, value: dba, roles: [dba]}
"""
)

CLAIMS = {
    "sub": "00u1",
    "preferred_username": "ada",
    "email": "ada@example.com",
    "name": "Ada Lovelace",
    "department": "pay",
    "groups": ["eng-pay", "dba", "everyone"],
}


def sso_policy(provider: str) -> str:
    return POLICY.replace("name: okta", f"name: {provider}")
