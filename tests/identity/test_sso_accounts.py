"""The account behind a verified sign-in (accessportal.sso.accounts.sso_sign_in): found by
(provider, subject), created, or linked to a policy-file user; never a takeover."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from accessportal.sso.accounts import AccountConflict, AccountDisabled, sso_sign_in
from policies_app.selectors import role_sources, user_traits
from policies_app.services.identity import NoMapping

POLICY = """
kind: role
name: engineer
---
kind: user
name: grace
roles: []
---
kind: sso_mapping
name: okta
spec:
  traits: {team: department}
  claims_to_roles:
    - {claim: groups, value: "eng-*", roles: [engineer]}
"""
CLAIMS = {"sub": "00u1", "preferred_username": "ada", "email": "ada@example.com",
          "name": "Ada Lovelace", "department": "pay", "groups": ["eng-pay"]}  # fmt: skip


def sign_in(claims=CLAIMS, provider="okta"):
    return sso_sign_in(provider=provider, uid=claims["sub"], claims=claims, extra_data={})


@pytest.fixture
def policy(apply_yaml):
    apply_yaml(POLICY)


def test_first_sign_in_creates_a_passwordless_user_audited(policy):
    account = sign_in()
    ada = account.user
    assert (ada.username, ada.email, ada.has_usable_password()) == ("ada", "ada@example.com", False)
    assert role_sources(ada) == {"engineer": ["sso:okta"]}
    assert user_traits(ada) == {"team": ["pay"]}
    created = AuditEvent.objects.get(action="user.sso_created")
    assert created.actor_name == "sso:okta" and created.data == {
        "provider": "okta",
        "subject": "00u1",
    }
    assert audit_verify().ok


def test_later_sign_ins_find_the_account_by_subject_not_by_name(policy):
    first = sign_in()
    again = sign_in({**CLAIMS, "preferred_username": "ada.lovelace", "groups": []})
    assert again.pk == first.pk and again.user.username == "ada"
    assert role_sources(again.user) == {}
    assert AuditEvent.objects.filter(action="user.sso_created").count() == 1


def test_a_policy_file_user_without_password_is_linked(policy, user):
    account = sign_in({**CLAIMS, "sub": "00u2", "preferred_username": "grace"})
    assert account.user == user("grace")
    assert AuditEvent.objects.filter(action="user.sso_linked", target_id="grace").exists()


@pytest.mark.parametrize("kind", ["password", "staff", "superuser", "other_identity"])
def test_an_account_that_may_not_be_taken_over_is_a_conflict(policy, user, kind):
    grace = user("grace")
    if kind == "password":
        grace.set_password("grace-password-1")
    elif kind == "staff":
        grace.is_staff = True
    elif kind == "superuser":
        grace.is_superuser = True
    grace.save()
    if kind == "other_identity":
        SocialAccount.objects.create(user=grace, provider="google", uid="g-1")
    before = AuditEvent.objects.count()
    with pytest.raises(AccountConflict) as error:
        sign_in({**CLAIMS, "sub": "00u3", "preferred_username": "Grace"})
    assert error.value.status == 409 and "'grace' already exists" in error.value.message
    assert not SocialAccount.objects.filter(provider="okta").exists()
    assert AuditEvent.objects.count() == before and role_sources(user("grace")) == {}


def test_an_inactive_user_is_refused_and_nothing_changes(policy):
    ada = sign_in().user
    ada.is_active = False
    ada.save()
    with pytest.raises(AccountDisabled) as error:
        sign_in({**CLAIMS, "groups": []})
    assert error.value.status == 403
    assert role_sources(ada) == {"engineer": ["sso:okta"]}


def test_a_provider_without_mapping_creates_nobody(policy):
    with pytest.raises(NoMapping):
        sign_in(provider="entra")
    assert not get_user_model().objects.filter(username="ada").exists()
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("username", ["", "has spaces", "x" * 151])
def test_an_unusable_user_name_is_refused(policy, username):
    with pytest.raises(ValidationFailed):
        sign_in({**CLAIMS, "preferred_username": username})
    assert not SocialAccount.objects.exists()
