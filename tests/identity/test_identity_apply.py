"""A sign-in brings the user up to what their provider's claims say, audited."""

from __future__ import annotations

import pytest

from accessportal.kernel.models import AuditEvent
from policies_app.selectors import role_sources, user_traits
from policies_app.services.identity import NoMapping, identity_apply, sso_identity
from tests.identity.sso_policy import CLAIMS, POLICY


def test_first_sign_in_sets_identity_traits_and_mapped_roles(apply_yaml, user):
    apply_yaml(POLICY)
    ada = user("ada")
    change = identity_apply(user=ada, provider="okta", claims=CLAIMS)
    ada.refresh_from_db()
    assert (ada.email, ada.first_name, ada.last_name) == ("ada@example.com", "Ada", "Lovelace")
    assert user_traits(ada) == {"site": ["paris"], "team": ["pay"]}
    assert role_sources(ada) == {"dba": ["sso:okta"], "engineer": ["policy", "sso:okta"]}
    assert change.roles.gained == ["dba"]
    event = AuditEvent.objects.filter(action="user.sso_synced").get()
    assert event.actor_name == "ada" and event.target_id == "ada"
    assert event.data["source"] == "sso:okta" and event.data["gained"] == ["dba"]


def test_a_changed_group_changes_roles_at_the_next_sign_in(apply_yaml, user):
    apply_yaml(POLICY)
    ada = user("ada")
    identity_apply(user=ada, provider="okta", claims=CLAIMS)
    claims = {**CLAIMS, "groups": ["everyone"], "department": None}
    change = identity_apply(user=ada, provider="okta", claims=claims)
    assert change.roles.lost == ["dba"]
    assert role_sources(ada) == {"engineer": ["policy"]}
    assert user_traits(ada) == {"site": ["paris"]}  # the mapped trait went with its claim

    assert not identity_apply(user=ada, provider="okta", claims=claims).changed
    assert AuditEvent.objects.filter(action="user.sso_synced").count() == 2


def test_a_provider_without_a_mapping_signs_nobody_in(apply_yaml, user):
    apply_yaml(POLICY)
    with pytest.raises(NoMapping, match="no sso_mapping"):
        identity_apply(user=user("ada"), provider="google", claims=CLAIMS)
    with pytest.raises(NoMapping):
        sso_identity("google", CLAIMS)
    assert sso_identity("okta", CLAIMS)["username"] == "ada"
