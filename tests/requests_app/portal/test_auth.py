"""Sign-in: every portal page needs it; login, logout and password change work."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

PAGES = [
    reverse("portal:home"),
    reverse("portal:access-panel"),
    reverse("portal:request-new"),
    reverse("portal:resource-search"),
    reverse("portal:request-list"),
    reverse("portal:request-detail", args=[uuid.uuid4()]),
    reverse("portal:request-extend", args=[uuid.uuid4()]),
    reverse("portal:inbox"),
    reverse("portal:tokens"),
    reverse("password_change"),
]
POSTS = [
    reverse("portal:request-withdraw", args=[uuid.uuid4()]),
    reverse("portal:request-end", args=[uuid.uuid4()]),
    reverse("portal:request-review", args=[uuid.uuid4()]),
    reverse("portal:token-revoke"),
]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_sends_strangers_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("url", POSTS)
def test_every_action_needs_sign_in_and_changes_nothing(client, db, url):
    response = client.post(url, {"state": "APPROVED"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_root_is_the_portal_and_admin_stays(alice_client, client):
    assert alice_client.get("/").status_code == 200
    assert client.get("/admin/").status_code == 302  # admin's own sign-in


def test_sign_in_with_password_lands_on_home(client, requester):
    requester.set_password("correct horse battery")
    requester.save()
    page = client.get(reverse("login"))
    assert b'<label for="id_username">Username</label>' in page.content
    response = client.post(
        reverse("login"), {"username": "alice", "password": "correct horse battery"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert b"Hello, alice" in response.content


def test_wrong_password_is_told_on_the_form(client, requester):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert b'value="alice"' in response.content  # what was typed stays


def test_sign_out_is_a_post_and_ends_the_session(alice_client):
    assert alice_client.get(reverse("logout")).status_code == 405
    response = alice_client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert alice_client.get(reverse("portal:home")).status_code == 302


def test_password_change(alice_client, requester):
    requester.set_password("old-password-123")
    requester.save()
    alice_client.force_login(requester)
    bad = alice_client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
    )
    assert bad.status_code == 200 and b"Your old password was entered incorrectly" in bad.content
    response = alice_client.post(
        reverse("password_change"),
        {
            "old_password": "old-password-123",
            "new_password1": "a-much-better-passphrase",
            "new_password2": "a-much-better-passphrase",
        },
        follow=True,
    )
    assert b"Password changed" in response.content
    requester.refresh_from_db()
    assert requester.check_password("a-much-better-passphrase")


def test_forms_are_csrf_protected(requester, pending_request):
    client = Client(enforce_csrf_checks=True)
    client.force_login(requester)
    page = client.get(reverse("portal:request-new"))
    assert b"csrfmiddlewaretoken" in page.content
    url = reverse("portal:request-withdraw", args=[pending_request.id])
    assert client.post(url).status_code == 403
    pending_request.refresh_from_db()
    assert pending_request.state == "PENDING"
