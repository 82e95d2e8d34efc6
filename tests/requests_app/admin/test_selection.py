"""A crafted selection (ids not of the model's key type) is refused with a message and the
list again, never a 500; no action runs."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from requests_app.models import Review

LISTS = [
    ("admin:requests_app_accessrequest_changelist", "approve_selected"),
    ("admin:requests_app_pendingrequest_changelist", "approve_selected"),
    ("admin:requests_app_grant_changelist", "revoke_selected"),
]


@pytest.mark.parametrize(("name", "action"), LISTS)
@pytest.mark.parametrize("post", [False, True], ids=["choose", "confirm"])
def test_a_malformed_id_is_an_invalid_selection_not_a_500(login, make_request, name, action, post):
    request = make_request()
    url = reverse(name)
    data = {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [str(request.pk), "nope"]}
    if post:
        data |= {"post": "yes", "reason": "x"}
    response = login("bob").post(url, data)
    assert response.status_code == 302
    assert response.url == url
    assert "Invalid selection." in [str(m) for m in get_messages(response.wsgi_request)]
    assert not Review.objects.exists()
