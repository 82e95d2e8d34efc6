"""The 403 handler: a desk page for active staff under /admin/, without the exception's
text; Django's own page for everybody else; the API's JSON error shape under /api/."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.requests_app.admin.denied_urls import SECRET

pytestmark = pytest.mark.urls("tests.requests_app.admin.denied_urls")

DJANGO_PAGE = "<h1>403 Forbidden</h1>"


def test_staff_get_the_desk_page_without_the_exception_text(login):
    response = login("erin").get("/admin/refuse/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>You may not do this</h1>" in html and 'id="nav-sidebar"' in html
    assert SECRET not in html


@pytest.mark.parametrize("who", ["anonymous", "not staff", "inactive staff"])
def test_everybody_else_under_admin_gets_django_s_own_page(who, base_policy, user, staff):
    client = Client()
    if who == "not staff":
        client.force_login(user("mallory"))
    elif who == "inactive staff":
        erin = staff("erin")
        erin.is_active = False
        erin.save(update_fields=["is_active"])
        client.force_login(erin)  # a session made before the account was disabled
    response = client.get("/admin/refuse/")
    assert response.status_code == 403
    html = response.content.decode()
    assert DJANGO_PAGE in html
    assert 'id="nav-sidebar"' not in html and "You may not do this" not in html
    assert SECRET not in html


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_plain_refusal_under_api_keeps_the_api_s_error_shape(signed_in, login, base_policy):
    client = login("bob") if signed_in else Client()
    response = client.get("/api/refuse/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "code"} and body["code"]
    assert SECRET not in response.content.decode()
