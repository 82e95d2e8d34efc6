"""`kind: sso_mapping`: how a provider's claims become who a user is and which standing
roles they hold (after Teleport's claims_to_roles)."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from accessportal.kernel.models import AuditEvent
from policies_app.documents.sso_mappings import (
    identity_from_claims,
    roles_from_claims,
    traits_from_claims,
)
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.models import SSOMapping
from policies_app.services.apply import policies_apply
from policies_app.services.export import policies_export
from tests.identity.sso_policy import ROLES

MAPPING = """
kind: sso_mapping
name: okta
description: Okta at example.com
spec:
  claims: {username: email}
  traits: {team: department, groups: groups}
  claims_to_roles:
    - {claim: groups, value: "eng-*", roles: [engineer]}
    - {claim: groups, value: dba, roles: [dba]}
    - {claim: department, value: "^(sre|platform)$", roles: [oncall, engineer]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyFileError) as err:
        plan_from_texts([("sso.yaml", textwrap.dedent(text))])
    return err.value.problems


def spec() -> dict:
    return plan_from_texts([("sso.yaml", ROLES + "---\n" + MAPPING)]).sso_mappings[0]["spec"]


def test_group_claims_give_only_the_roles_a_rule_names(db):
    claims = {"groups": ["eng-payments", "everyone", "dba-readonly"], "department": "sales"}
    assert roles_from_claims(spec(), claims) == {"engineer"}
    assert roles_from_claims(spec(), {"groups": ["dba"], "department": "platform"}) == {
        "dba",
        "oncall",
        "engineer",
    }
    assert roles_from_claims(spec(), {"groups": "eng-web"}) == {"engineer"}  # one string
    assert roles_from_claims(spec(), {"groups": ["admins"], "department": "sre-ish"}) == set()
    assert roles_from_claims(spec(), {}) == set()


def test_identity_and_traits_come_from_the_named_claims(db):
    claims = {
        "email": "ada@example.com",
        "preferred_username": "ada",
        "name": "Ada Lovelace",
        "department": "pay",
        "groups": ["eng-pay", "eng-pay", "all"],
    }
    assert identity_from_claims(spec(), claims) == {
        "username": "ada@example.com",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
    }
    assert traits_from_claims(spec(), claims) == {"team": ["pay"], "groups": ["all", "eng-pay"]}
    assert traits_from_claims(spec(), {"email": "x@example.com"}) == {}


def test_mapping_is_stored_audited_exported_and_pruned(apply_yaml):
    apply_yaml(ROLES)
    summary = apply_yaml(ROLES + "---\n" + MAPPING)
    assert summary.created == ["sso_mapping okta"]
    assert SSOMapping.objects.get(name="okta").spec["claims"]["username"] == "email"
    assert AuditEvent.objects.filter(action="sso_mapping.created", target_id="okta").exists()
    assert not apply_yaml(ROLES + "---\n" + MAPPING).changed

    exported = [d for d in yaml.safe_load_all(policies_export()) if d["kind"] == "sso_mapping"]
    assert exported == [yaml.safe_load(MAPPING)]
    again = policies_apply(plan=plan_from_texts([("export.yaml", policies_export())]))
    assert not again.changed

    apply_yaml(ROLES, prune=True)
    assert not SSOMapping.objects.exists()
    assert AuditEvent.objects.filter(action="sso_mapping.deleted", target_id="okta").exists()


def test_a_mapping_to_a_role_that_does_not_exist_is_refused(db):
    found = problems(MAPPING)
    assert any("spec.claims_to_roles[0].roles: no role named 'engineer'" in p for p in found)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ("[{claim: groups, value: eng}]", "spec.claims_to_roles[0].roles: name at least one role"),
        ("[{claim: groups, roles: [dba]}]", "spec.claims_to_roles[0].value: must be one value"),
        ("[{claim: 'a b', value: x, roles: [dba]}]", "spec.claims_to_roles[0].claim: must be"),
        ("[{claim: g, value: '^(unclosed$', roles: [dba]}]", "spec.claims_to_roles[0].value"),
        ("[{claim: g, value: [a, b], roles: [dba]}]", "must be one value"),
        ("[{claim: g, value: x, roles: [dba], role: y}]", "spec.claims_to_roles[0].role: unknown"),
        ("{claim: g}", "spec.claims_to_roles: must be a list"),
    ],
)
def test_bad_rules_are_refused_with_their_path(db, rules, expected):
    text = "kind: role\nname: dba\n---\nkind: sso_mapping\nname: okta\nspec:\n"
    text += f"  claims_to_roles: {rules}\n"
    assert any(expected in p for p in problems(text)), problems(text)


def test_unknown_identity_claim_keys_are_refused(db):
    text = "kind: sso_mapping\nname: okta\nspec:\n  claims: {login: sub}\n  traits: {team: 'a b'}\n"
    found = problems(text)
    assert any("spec.claims.login: unknown field" in p for p in found)
    assert any("spec.traits.team: must be a claim name" in p for p in found)
