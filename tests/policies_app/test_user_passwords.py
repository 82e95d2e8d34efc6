"""A `kind: user` account from a policy file can sign in without SSO: an admin gives it a
password (Django admin's "Set password", or `manage.py changepassword`), and loading the
policies again never takes that password away."""

from __future__ import annotations

import pytest
from django.contrib.auth.management.commands import changepassword
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from tests.conftest import BASE_POLICY

PASSWORD = "Corr3ct-horse-battery"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def signs_in(username: str, password: str) -> bool:
    """Sign in through the portal's form, as a person would."""
    reply = Client().post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR="10.0.0.7"
    )
    return reply.status_code == 302 and "_auth_user_id" in reply.client.session


def test_a_policy_user_has_no_password_until_an_admin_sets_one(requester):
    assert not requester.has_usable_password()
    assert not signs_in("alice", "")


def test_admin_sets_a_policy_users_password_and_it_survives_apply_policies(
    requester, admin, apply_yaml
):
    desk = Client()
    desk.force_login(admin)
    url = reverse("admin:auth_user_password_change", args=[requester.pk])
    assert desk.get(url).status_code == 200
    reply = desk.post(url, {"password1": PASSWORD, "password2": PASSWORD})
    assert reply.status_code == 302, reply.content.decode()[:2000]

    assert signs_in("alice", PASSWORD)

    apply_yaml(BASE_POLICY)  # unchanged
    apply_yaml(BASE_POLICY.replace("roles: [engineer]", "roles: [engineer, auditor]"))
    apply_yaml(BASE_POLICY, prune=True)
    assert signs_in("alice", PASSWORD)


def test_changepassword_command_sets_a_policy_users_password(requester, monkeypatch):
    # The command reads the password twice from the terminal; type it in.
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt="": PASSWORD)
    call_command("changepassword", "alice", stdout=None)

    assert signs_in("alice", PASSWORD)
