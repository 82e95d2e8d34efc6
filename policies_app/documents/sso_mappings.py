"""`kind: sso_mapping` documents: how one identity provider's claims become a user.

The document is named after the provider (its id in `SSO_PROVIDERS`, and the SCIM token's
provider): which claims give the user name, email and display name, which claims become
traits (what predicates read as `reviewer.traits["team"]`), and which claim values give
which standing roles, after Teleport's `claims_to_roles`. A sign-in or a SCIM push never
grants a role that no rule of its provider's mapping names.
"""

from __future__ import annotations

import re
from typing import Any

from policies_app.documents.checker import NAME_RE, Checker, Problem
from policies_app.matching import matches

# Claim names are short strings without spaces: `groups`, `preferred_username`, or a
# namespaced one such as `https://example.com/claims/team`.
CLAIM_RE = re.compile(r"^[^\s]{1,200}$")
IDENTITY_CLAIMS = {"username": "preferred_username", "email": "email", "name": "name"}
MAX_RULES = 500


def _claim(check: Checker, value: Any, field: str) -> str:
    if not isinstance(value, str) or not CLAIM_RE.match(value):
        check.add(field, "must be a claim name (1-200 characters, no spaces)")
        return ""
    return value


def normalize_sso_mapping(doc: Any) -> tuple[dict, list[Problem]]:
    """Check a `kind: sso_mapping` document: {name, description, spec}.

    spec: `claims` (username, email and name: which claim gives each; defaults
    preferred_username, email, name), `traits` (trait name: claim) and `claims_to_roles`
    (rules `{claim, value, roles}`; `value` is a literal, a glob or a ^regex$).
    """
    check = Checker()
    doc = check.mapping(doc, "sso_mapping", {"kind", "name", "description", "spec", "version"})
    name = check.name(doc.get("name"), "provider")
    description = check.text(doc.get("description"), "description")
    spec = check.mapping(doc.get("spec"), "spec", {"claims", "traits", "claims_to_roles"})
    raw_claims = check.mapping(spec.get("claims"), "spec.claims", set(IDENTITY_CLAIMS))
    claims = {
        key: _claim(check, raw_claims.get(key, default), f"spec.claims.{key}")
        for key, default in IDENTITY_CLAIMS.items()
    }
    traits: dict[str, str] = {}
    raw_traits = spec.get("traits")
    if raw_traits is not None and not isinstance(raw_traits, dict):
        check.add("spec.traits", "must be a mapping of trait names to claim names")
    for trait, claim in (raw_traits or {}).items() if isinstance(raw_traits, dict) else ():
        if not isinstance(trait, str) or not NAME_RE.match(trait):
            check.add("spec.traits", f"trait name {trait!r}: 1-100 letters, digits or _ . : @ -")
            continue
        traits[trait] = _claim(check, claim, f"spec.traits.{trait}")
    rules = []
    raw_rules = spec.get("claims_to_roles")
    if raw_rules is not None and not isinstance(raw_rules, list):
        check.add("spec.claims_to_roles", "must be a list of {claim, value, roles}")
        raw_rules = []
    if len(raw_rules or []) > MAX_RULES:
        check.add("spec.claims_to_roles", f"at most {MAX_RULES} rules")
    for i, raw in enumerate(raw_rules or []):
        field = f"spec.claims_to_roles[{i}]"
        raw = check.mapping(raw, field, {"claim", "value", "roles"})
        claim = _claim(check, raw.get("claim"), f"{field}.claim")
        values = check.string_list(raw.get("value"), f"{field}.value", pattern=True)
        if len(values) != 1 or not isinstance(raw.get("value"), str):
            check.add(f"{field}.value", "must be one value: a literal, a glob or a ^regex$")
        roles = check.string_list(raw.get("roles"), f"{field}.roles")
        if not roles:
            check.add(f"{field}.roles", "name at least one role")
        for j, role in enumerate(roles):
            if not NAME_RE.match(role):
                check.add(f"{field}.roles[{j}]", f"{role!r} is not a role name")
        rules.append({"claim": claim, "value": values[0] if values else "", "roles": roles})
    out = {
        "name": name,
        "description": description,
        "spec": {"claims": claims, "traits": traits, "claims_to_roles": rules},
    }
    return out, check.problems


def export_sso_mapping_spec(spec: dict) -> dict:
    """The stored spec as a policy file shows it: defaults left out."""
    out: dict = {}
    claims = {k: v for k, v in spec.get("claims", {}).items() if IDENTITY_CLAIMS.get(k) != v}
    if claims:
        out["claims"] = claims
    if spec.get("traits"):
        out["traits"] = dict(spec["traits"])
    out["claims_to_roles"] = [dict(rule) for rule in spec.get("claims_to_roles", [])]
    return out


def _claim_values(claims: dict, claim: str) -> list[str]:
    """A claim's values as strings: a string is one value, a list its string items."""
    value = claims.get(claim)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [str(value)]
    return []


def roles_from_claims(spec: dict, claims: dict) -> set[str]:
    """The standing roles a provider's claims give: every role of every rule one of whose
    claim's values matches its `value`. Nothing else: an unmapped group gives no role."""
    roles: set[str] = set()
    for rule in spec.get("claims_to_roles", []):
        if any(matches(rule["value"], v) for v in _claim_values(claims, rule["claim"])):
            roles.update(rule["roles"])
    return roles


def distributed_claims(spec: dict, claims: dict) -> list[str]:
    """Claims the mapping reads (for roles or traits) that the token does not carry but
    points elsewhere for (OpenID Connect distributed claims, `_claim_names`): Entra ID's
    group overage, for a user in more groups than fit in a token. Reading them as empty
    would take roles away; the caller refuses the sign-in instead."""
    elsewhere = claims.get("_claim_names")
    if not isinstance(elsewhere, dict):
        return []
    read = [rule["claim"] for rule in spec.get("claims_to_roles", [])]
    read += list(spec.get("traits", {}).values())
    return sorted({c for c in read if c.split(".")[0] in elsewhere})


def traits_from_claims(spec: dict, claims: dict) -> dict[str, list[str]]:
    """The traits a provider's claims give (each a list of strings; absent claims left out)."""
    out = {}
    for trait, claim in spec.get("traits", {}).items():
        if values := _claim_values(claims, claim):
            out[trait] = sorted(set(values))
    return out


def identity_from_claims(spec: dict, claims: dict) -> dict[str, str]:
    """Username, email and display name from the claims the mapping names ("" if absent)."""
    names = {**IDENTITY_CLAIMS, **spec.get("claims", {})}
    out = {}
    for key, claim in names.items():
        values = _claim_values(claims, claim)
        out[key] = values[0] if values else ""
    return out
