"""API tokens: one per user, the key never in the audit log, revocation ends it."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from accessportal.kernel.errors import Conflict
from accessportal.kernel.models import AuditEvent
from requests_app.services.tokens import api_token_create, api_token_revoke


def test_token_is_created_and_audited_without_its_key(requester):
    token = api_token_create(user=requester)
    assert Token.objects.get(user=requester).key == token.key and len(token.key) == 40
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.actor_name == "alice" and event.data == {"user": "alice", "replaced": False}
    assert token.key not in str(event.data)


def test_second_token_is_refused_unless_replacing(requester):
    first = api_token_create(user=requester)
    with pytest.raises(Conflict):
        api_token_create(user=requester)
    second = api_token_create(user=requester, replace=True)
    assert second.key != first.key
    assert list(Token.objects.filter(user=requester).values_list("key", flat=True)) == [second.key]
    assert AuditEvent.objects.filter(action="api_token.created").last().data["replaced"] is True


def test_revoke_deletes_the_token_and_is_audited_once(requester):
    api_token_create(user=requester)
    assert api_token_revoke(user=requester) is True
    assert not Token.objects.filter(user=requester).exists()
    assert api_token_revoke(user=requester) is False
    assert AuditEvent.objects.filter(action="api_token.revoked").count() == 1
