"""API tokens in the portal: shown once on creation, replaced, revoked, audited."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.authtoken.models import Token

from accessportal.kernel.models import AuditEvent

TOKENS = reverse("portal:tokens")


def test_no_token_yet(alice_client):
    page = alice_client.get(TOKENS).content.decode()
    assert "You have no API token." in page and "Create a token" in page


def test_created_token_is_shown_once(alice_client, requester):
    response = alice_client.post(TOKENS)
    key = Token.objects.get(user=requester).key
    page = response.content.decode()
    assert response.status_code == 200 and key in page
    assert "it will not be shown again" in page
    assert "no-store" in response["Cache-Control"]
    again = alice_client.get(TOKENS).content.decode()
    assert key not in again and "You have a token, created" in again
    assert AuditEvent.objects.filter(action="api_token.created", actor_name="alice").exists()


def test_creating_a_second_token_without_replacing_is_told(alice_client):
    alice_client.post(TOKENS)
    response = alice_client.post(TOKENS)
    assert response.status_code == 409
    assert "You already have an API token" in response.content.decode()


def test_replace_gives_a_new_key_and_kills_the_old(alice_client, requester):
    alice_client.post(TOKENS)
    old = Token.objects.get(user=requester).key
    response = alice_client.post(TOKENS, {"replace": "1"})
    new = Token.objects.get(user=requester).key
    assert new != old and new in response.content.decode()
    assert not Token.objects.filter(key=old).exists()


def test_revoke_deletes_the_token(alice_client, requester):
    alice_client.post(TOKENS)
    response = alice_client.post(reverse("portal:token-revoke"), follow=True)
    assert "API token revoked." in response.content.decode()
    assert not Token.objects.filter(user=requester).exists()
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1


def test_tokens_are_per_user(alice_client, bob_client, reviewer):
    alice_client.post(TOKENS)
    bob_client.post(reverse("portal:token-revoke"))
    assert Token.objects.count() == 1 and not Token.objects.filter(user=reviewer).exists()
