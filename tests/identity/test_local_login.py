"""ACCESSPORTAL_LOCAL_LOGIN=off: password sign-in (portal, admin, API token) refuses all
but break-glass superusers; the sign-in pages still offer the providers; and allauth's own
signup and connection pages do not exist."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "a-long-local-password-1"


@pytest.fixture
def people(db):
    users = get_user_model().objects
    return {
        "carol": users.create_user("carol", password=PASSWORD),
        "root": users.create_superuser("root", password=PASSWORD),
        "spare": users.create_superuser("spare", password=PASSWORD),
    }


def portal_login(name):
    client = Client()
    response = client.post("/accounts/login/", {"username": name, "password": PASSWORD})
    return response, client


def admin_login(name):
    client = Client()
    return client.post("/admin/login/?next=/admin/", {"username": name, "password": PASSWORD})


def token_login(name):
    return Client().post(
        "/api/v1/auth/token/", {"username": name, "password": PASSWORD}, "application/json"
    )


def test_local_login_is_on_by_default(people):
    response, _ = portal_login("carol")
    assert response.status_code == 302


def test_off_refuses_a_users_password_everywhere(people, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    response, client = portal_login("carol")
    assert response.status_code == 200 and "Please enter a correct" in response.text
    assert client.get("/").status_code == 302  # still signed out
    assert admin_login("carol").status_code == 200
    assert token_login("carol").status_code == 400


def test_off_lets_every_superuser_in_when_none_is_named(people, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    assert admin_login("root").status_code == 302
    assert token_login("spare").status_code == 200


def test_off_with_named_break_glass_users_lets_only_them_in(people, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    settings.ACCESSPORTAL_BREAK_GLASS_USERS = ["root"]
    assert admin_login("root").status_code == 302
    assert admin_login("spare").status_code == 200


def test_refused_passwords_still_count_toward_the_lockout(people, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    for _ in range(settings.AXES_FAILURE_LIMIT):
        portal_login("carol")
    response, _ = portal_login("carol")
    assert response.status_code == 429


def test_the_login_page_says_password_sign_in_is_for_break_glass(db, settings):
    settings.ACCESSPORTAL_LOCAL_LOGIN = False
    page = Client().get("/accounts/login/").text
    assert "Break-glass sign-in" in page


@pytest.mark.parametrize("url", ["/sso/3rdparty/signup/", "/sso/3rdparty/"])
def test_allauths_signup_and_connections_pages_do_not_exist(db, url):
    response = Client().get(url)
    assert response.status_code == 404 and "Sign-in failed" in response.text


def test_allauths_login_page_is_ours(db):
    response = Client().get("/sso/login/?next=/requests/")
    assert (
        response.status_code == 302 and response["Location"] == "/accounts/login/?next=/requests/"
    )


def test_an_unknown_provider_is_404(db):
    assert Client().post("/sso/oidc/nope/login/").status_code == 404
    assert Client().get("/sso/oidc/nope/login/callback/?code=x&state=y").status_code == 404


def test_the_admin_shows_identity_links_read_only_and_no_allauth_settings(root_client):
    assert root_client.get("/admin/socialaccount/socialaccount/").status_code == 200
    assert root_client.get("/admin/socialaccount/socialaccount/add/").status_code == 403
    for url in ("/admin/socialaccount/socialapp/", "/admin/account/emailaddress/"):
        assert root_client.get(url).status_code == 404


@pytest.fixture
def unreachable_provider(settings):
    """A provider whose issuer has nobody listening (port 9 on loopback)."""
    from accessportal.sso.config import oidc_apps

    apps = oidc_apps(
        '[{"id": "gone", "issuer": "http://127.0.0.1:9", "client_id": "c", "secret": "s"}]',
        production=False,
    )
    openid = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {**openid, "APPS": apps}}


def test_an_unreachable_provider_is_an_error_page_not_a_500(db, unreachable_provider):
    response = Client().post("/sso/oidc/gone/login/")
    assert response.status_code == 401
    assert "identity provider is unreachable" in response.text


def test_a_callback_without_its_sign_in_state_signs_nobody_in(db, unreachable_provider):
    client = Client()
    response = client.get("/sso/oidc/gone/login/callback/?code=stolen&state=guessed")
    assert response.status_code == 401 and "already used" in response.text
    assert client.get("/").status_code == 302
