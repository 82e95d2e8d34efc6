"""Standing roles remember what gives them: the policy files and a provider's sign-in or
SCIM push each change only their own part."""

from __future__ import annotations

import yaml
from django.db import transaction

from policies_app.selectors import role_sources, standing_role_names
from policies_app.services.export import policies_export
from policies_app.services.memberships import memberships_set
from tests.identity.sso_policy import ADA, ROLES

POLICY = ROLES + ADA


def sso(user, roles):
    with transaction.atomic():
        return memberships_set(user, roles, source="sso:okta")


def test_a_provider_adds_roles_beside_the_policy_and_takes_back_only_its_own(apply_yaml, user):
    apply_yaml(POLICY)
    ada = user("ada")
    change = sso(ada, ["engineer", "dba"])
    assert change.gained == ["dba"] and change.lost == [] and change.before == []
    assert role_sources(ada) == {"dba": ["sso:okta"], "engineer": ["policy", "sso:okta"]}

    change = sso(ada, [])  # the next sign-in carries no mapped group
    assert change.lost == ["dba"] and change.before == ["dba", "engineer"]
    assert standing_role_names(ada) == ["engineer"]  # the policy still gives it
    assert role_sources(ada) == {"engineer": ["policy"]}


def test_applying_the_policy_files_keeps_what_a_provider_gives(apply_yaml, user):
    apply_yaml(POLICY)
    ada = user("ada")
    sso(ada, ["oncall"])
    apply_yaml(POLICY.replace("roles: [engineer]", "roles: [dba]"))
    assert role_sources(ada) == {"dba": ["policy"], "oncall": ["sso:okta"]}


def test_export_writes_only_what_the_policy_gives(apply_yaml, user):
    apply_yaml(POLICY)
    sso(user("ada"), ["oncall", "engineer"])
    docs = {d["name"]: d for d in yaml.safe_load_all(policies_export()) if d["kind"] == "user"}
    assert docs["ada"]["roles"] == ["engineer"]


def test_a_role_that_does_not_exist_is_refused(apply_yaml, user):
    apply_yaml(POLICY)
    try:
        sso(user("ada"), ["root"])
    except ValueError as err:
        assert "no role named root" in str(err)
    else:
        raise AssertionError("an unknown role was accepted")
    assert role_sources(user("ada")) == {"engineer": ["policy"]}


def test_admin_role_page_tells_provider_members_apart(apply_yaml, user, root_client):
    apply_yaml(POLICY)
    sso(user("ada"), ["dba"])
    from policies_app.models import Role

    page = root_client.get(f"/admin/policies_app/role/{Role.objects.get(name='dba').pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "From identity providers" in text and "ada (sso:okta)" in text
    assert page.context["adminform"].form.initial["policy_members"] == []
