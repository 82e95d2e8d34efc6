"""The review-rule identity's name is reserved (accessportal/kernel/usernames.py): no SSO
first sign-in, SCIM push, policy-file user or local account can take or become it, and the
rules never review as an account a person could sign in to (README "Review rules")."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import AuditEvent
from accessportal.kernel.usernames import RULE_REVIEWER_USERNAME, username_refusal
from accessportal.sso.accounts import sso_sign_in
from policies_app.loader import PolicyFileError, plan_from_texts
from policies_app.selectors import accounts_adoptable_by, directory_users_visible
from requests_app.services.directory_users import DirectoryUserAttrs, directory_user_save
from requests_app.services.rule_reviewer import (
    RuleReviewerUnavailable,
    is_rule_reviewer,
    rule_reviewer,
)
from tests.identity.sso_policy import CLAIMS, POLICY


@pytest.fixture
def policy(apply_yaml):
    apply_yaml(POLICY)


def sign_in(username: str, sub: str = "00u-evil"):
    claims = {**CLAIMS, "sub": sub, "preferred_username": username, "email": "e@example.com"}
    return sso_sign_in(provider="okta", uid=sub, claims=claims, extra_data={})


def test_the_identity_is_created_once_audited_and_never_adoptable(policy):
    bot = rule_reviewer()
    assert bot.get_username() == RULE_REVIEWER_USERNAME and is_rule_reviewer(bot)
    assert rule_reviewer().pk == bot.pk
    (event,) = AuditEvent.objects.filter(action="user.system_created")
    assert event.target_id == RULE_REVIEWER_USERNAME and event.actor_name == "system"
    users = get_user_model().objects.filter(pk=bot.pk)
    assert not users.filter(accounts_adoptable_by("okta")).exists()
    assert not directory_users_visible("okta").filter(pk=bot.pk).exists()


@pytest.mark.parametrize("name", [RULE_REVIEWER_USERNAME, "SYSTEM:Review-Rules"])
def test_sso_first_sign_in_cannot_take_the_name(policy, name):
    bot = rule_reviewer()
    with pytest.raises(ValidationFailed, match="not usable here"):
        sign_in(name)
    assert not SocialAccount.objects.filter(user=bot).exists()


def test_a_person_named_like_the_old_identity_is_just_a_person(policy):
    person = sign_in("auto-review").user
    assert not is_rule_reviewer(person)
    assert rule_reviewer().pk != person.pk


def test_scim_cannot_create_the_name(policy):
    rule_reviewer()
    with pytest.raises(ValidationFailed, match="reserved for a system identity"):
        directory_user_save(
            provider="okta", user_id=None, attrs=DirectoryUserAttrs(RULE_REVIEWER_USERNAME)
        )


def test_a_user_document_cannot_name_the_identity(db):
    with pytest.raises(PolicyFileError) as err:
        plan_from_texts([("u.yaml", f"kind: user\nname: '{RULE_REVIEWER_USERNAME}'\n")])
    assert any("reserved for a system identity" in p for p in err.value.problems)


def test_local_accounts_cannot_use_the_name():
    # Django's admin and createsuperuser validate with the same UnicodeUsernameValidator.
    assert "reserved" in username_refusal(RULE_REVIEWER_USERNAME)
    assert username_refusal("ada") == ""


@pytest.mark.parametrize("how", ["password", "sign-in link"])
def test_rules_refuse_an_account_under_the_name_a_person_could_use(policy, how):
    bot = rule_reviewer()
    if how == "password":
        bot.set_password("hunter2-hunter2")
        bot.save()
    else:  # only a database edit can do this; the rules still refuse it
        SocialAccount.objects.create(user=bot, provider="okta", uid="00u-evil")
    with pytest.raises(RuleReviewerUnavailable):
        rule_reviewer()
