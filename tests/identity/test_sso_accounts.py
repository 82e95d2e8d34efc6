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
from policies_app.models import DirectoryUser
from policies_app.selectors import role_sources, user_traits
from policies_app.services.identity import NoMapping
from tests.identity.sso_policy import CLAIMS, POLICY

# grace: new to the portal; ada: a policy-file user (no password) a first sign-in may link.
GRACE = {**CLAIMS, "sub": "00u9", "preferred_username": "grace", "email": "grace@example.com"}


def sign_in(claims=GRACE, provider="okta"):
    return sso_sign_in(provider=provider, uid=claims["sub"], claims=claims, extra_data={})


@pytest.fixture
def policy(apply_yaml):
    apply_yaml(POLICY)


def test_first_sign_in_creates_a_passwordless_user_audited(policy):
    grace = sign_in().user
    assert (grace.username, grace.email) == ("grace", "grace@example.com")
    assert not grace.has_usable_password()
    assert role_sources(grace) == {"dba": ["sso:okta"], "engineer": ["sso:okta"]}
    assert user_traits(grace) == {"team": ["pay"]}
    created = AuditEvent.objects.get(action="user.sso_created")
    assert created.actor_name == "sso:okta"
    assert created.data == {"provider": "okta", "subject": "00u9"}
    assert audit_verify().ok


def test_later_sign_ins_find_the_account_by_subject_not_by_name(policy):
    first = sign_in()
    again = sign_in({**GRACE, "preferred_username": "grace.hopper", "groups": []})
    assert again.pk == first.pk and again.user.username == "grace"
    assert role_sources(again.user) == {}
    assert AuditEvent.objects.filter(action="user.sso_created").count() == 1


def test_a_policy_file_user_without_password_is_linked(policy, user):
    account = sign_in(CLAIMS)
    assert account.user == user("ada")
    assert role_sources(account.user) == {"dba": ["sso:okta"], "engineer": ["policy", "sso:okta"]}
    assert AuditEvent.objects.filter(action="user.sso_linked", target_id="ada").exists()


@pytest.mark.parametrize(
    "kind", ["password", "staff", "superuser", "other_identity", "other_directory", "inactive"]
)
def test_an_account_that_may_not_be_taken_over_is_a_conflict(policy, user, kind):
    ada = user("ada")
    if kind == "password":
        ada.set_password("ada-password-1")
    elif kind == "staff":
        ada.is_staff = True
    elif kind == "superuser":
        ada.is_superuser = True
    elif kind == "inactive":  # an admin deactivated her: no provider brings her back
        ada.is_active = False
    ada.save()
    if kind == "other_identity":
        SocialAccount.objects.create(user=ada, provider="google", uid="g-1")
    if kind == "other_directory":  # another provider manages her over SCIM
        DirectoryUser.objects.create(user=ada, provider="entra", external_id="e-ada")
    before = AuditEvent.objects.count()
    with pytest.raises(AccountConflict) as error:
        sign_in({**CLAIMS, "preferred_username": "Ada"})
    assert error.value.status == 409 and "'ada' already exists" in error.value.message
    assert not SocialAccount.objects.filter(provider="okta").exists()
    assert AuditEvent.objects.count() == before and role_sources(user("ada")) == {
        "engineer": ["policy"]
    }


def test_an_account_this_provider_manages_over_scim_is_linked(policy, user):
    """The usual order: the provider's SCIM push creates the account, the person signs in."""
    DirectoryUser.objects.create(user=user("ada"), provider="okta", external_id="o-ada")
    assert sign_in(CLAIMS).user == user("ada")


def test_an_inactive_user_is_refused_and_nothing_changes(policy):
    grace = sign_in().user
    grace.is_active = False
    grace.save()
    with pytest.raises(AccountDisabled) as error:
        sign_in({**GRACE, "groups": []})
    assert error.value.status == 403
    assert role_sources(grace) == {"dba": ["sso:okta"], "engineer": ["sso:okta"]}


def test_a_provider_without_mapping_creates_nobody(policy):
    with pytest.raises(NoMapping):
        sign_in(provider="entra")
    assert not get_user_model().objects.filter(username="grace").exists()
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize("username", ["", "has spaces", "x" * 151])
def test_an_unusable_user_name_is_refused(policy, username):
    with pytest.raises(ValidationFailed):
        sign_in({**GRACE, "preferred_username": username})
    assert not SocialAccount.objects.exists()


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"email": "grace\x00@example.com"}, "claims.email"),
        ({"name": "Grace\x00"}, "claims.name"),
        ({"groups": ["eng", "pay\x00"]}, "claims.groups[1]"),
        ({"sub": "00u\x009"}, "sub"),
    ],
)
def test_a_claim_no_database_can_store_is_refused_and_nothing_is_written(policy, changes, where):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        sign_in({**GRACE, **changes})
    assert f"{where}: contains a NUL character" in refused.value.message
    assert not get_user_model().objects.filter(username="grace").exists()
    assert not SocialAccount.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_group_overage_refuses_the_sign_in_and_keeps_the_roles(policy):
    """Entra ID replaces `groups` by a pointer for users in more than 200 groups (OpenID
    Connect distributed claims): read as "no groups" it would silently take roles away."""
    grace = sign_in().user
    overage = {k: v for k, v in GRACE.items() if k != "groups"}
    overage["_claim_names"] = {"groups": "src1"}
    overage["_claim_sources"] = {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/x"}}
    events = AuditEvent.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        sign_in(overage)

    assert "did not put groups in the token" in refused.value.message
    assert role_sources(grace) == {"dba": ["sso:okta"], "engineer": ["sso:okta"]}
    assert AuditEvent.objects.count() == events
