"""The admin pages name the site's icon, as the portal's do: without it the browser asks for
/favicon.ico, which answers 404 (an error in the console of every admin page)."""

from __future__ import annotations

import re

from django.contrib.staticfiles import finders
from django.test import Client
from django.urls import reverse

ICON = re.compile(r'<link rel="icon" href="/static/(?P<path>[^"]+)"')


def _icon(html: str) -> str:
    found = ICON.search(html)
    assert found, "no <link rel=icon> on the page"
    return found["path"]


def test_the_admin_login_and_index_link_an_icon_that_exists(root_client):
    login_page = Client().get(reverse("admin:login")).content.decode()
    index = root_client.get(reverse("admin:index")).content.decode()
    change_list = root_client.get(
        reverse("admin:requests_app_accessrequest_changelist")
    ).content.decode()
    for html in (login_page, index, change_list):
        assert finders.find(_icon(html)), "the icon the page links to is not a static file"
