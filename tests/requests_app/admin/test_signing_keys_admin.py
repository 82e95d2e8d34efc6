"""The credential signing keys in the desk: the security team sees which key signs and
which the JWKS still publishes; nobody sees the sealed private key, and plain staff do not
see the page at all."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from requests_app.services.credentials import signing_key_ensure


def test_superuser_sees_keys_without_private_part(root_client: Client):
    key = signing_key_ensure()
    listing = root_client.get(reverse("admin:requests_app_signingkey_changelist"))
    assert listing.status_code == 200
    assert key.kid in listing.content.decode()
    assert "signing" in listing.content.decode()
    page = root_client.get(reverse("admin:requests_app_signingkey_change", args=[key.pk]))
    body = page.content.decode()
    assert page.status_code == 200 and key.kid in body
    assert key.private_key not in body


def test_plain_staff_do_not_see_keys(login):
    key = signing_key_ensure()
    bob = login("bob")
    assert bob.get(reverse("admin:requests_app_signingkey_changelist")).status_code == 403
    page = reverse("admin:requests_app_signingkey_change", args=[key.pk])
    assert bob.get(page).status_code == 403
    assert "signingkey" not in bob.get(reverse("admin:index")).content.decode()


def test_keys_are_read_only(root_client: Client):
    key = signing_key_ensure()
    url = reverse("admin:requests_app_signingkey_change", args=[key.pk])
    root_client.post(url, {"alg": "ES256", "kid": "forged"})
    key.refresh_from_db()
    assert key.kid != "forged" and key.alg == "EdDSA"
    assert root_client.get(reverse("admin:requests_app_signingkey_add")).status_code == 403
