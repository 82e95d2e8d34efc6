"""The desk's frame on every page: titles that say what the page lists, the portal's icon,
a 403 inside /admin/ drawn as a desk page (and Django's own elsewhere), and one name for an
unnamed threshold."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.urls import reverse

from requests_app.admin.denied import permission_denied

ICON = '<link rel="icon" href="/static/portal/favicon.svg" type="image/svg+xml">'


def changelists() -> list[tuple[str, str]]:
    return sorted(
        (reverse(f"admin:{m._meta.app_label}_{m._meta.model_name}_changelist"), m._meta.label)
        for m in admin.site._registry
    )


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


@pytest.mark.parametrize("url,label", changelists())
def test_every_change_list_is_titled_by_what_it_lists_and_carries_the_icon(
    root_client, login, url, label
):
    # The queue is a reviewer's (the superuser reviews nothing); every other list is root's.
    client = login("bob") if label == "requests_app.PendingRequest" else root_client
    response = client.get(url)
    assert response.status_code == 200, label
    html = response.content.decode()
    title = title_of(html)
    assert not title.startswith("Select "), (label, title)
    h1 = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
    assert "Select" not in h1 and title.startswith(h1.strip()), (label, h1, title)
    assert ICON in html, label


def test_list_titles_name_the_things(root_client, login):
    assert (
        title_of(root_client.get(reverse("admin:requests_app_grant_changelist")).content.decode())
        == "Grants | Access Portal"
    )
    queue = login("bob").get(reverse("admin:requests_app_pendingrequest_changelist"))
    assert title_of(queue.content.decode()).startswith("Pending for me")
    everything = root_client.get(reverse("admin:requests_app_accessrequest_changelist"))
    assert title_of(everything.content.decode()).startswith("Access requests you can see")


def test_desk_pages_outside_change_lists_carry_the_icon(root_client, login, make_request):
    request = make_request()
    pages = [
        reverse("admin:index"),
        reverse("admin:requests_app_accessrequest_change", args=[request.pk]),
        reverse("admin:requests_app_accessrequest_permissions", args=[request.pk]),
        reverse("admin:password_change"),
    ]
    for url in pages:
        assert ICON in root_client.get(url).content.decode(), url
    assert ICON in Client().get(reverse("admin:login")).content.decode()


def test_a_refusal_inside_admin_is_a_desk_page_with_navigation(login):
    response = login("erin").get(reverse("admin:requests_app_pendingrequest_changelist"))
    assert response.status_code == 403
    html = response.content.decode()
    assert "<h1>You may not do this</h1>" in html
    assert 'id="site-name"' in html and 'class="breadcrumbs"' in html
    assert 'id="nav-sidebar"' in html and ICON in html


def test_a_refusal_outside_admin_keeps_django_s_own_page(rf: RequestFactory, outsider):
    request = rf.get("/requests/")
    request.user = outsider
    response = permission_denied(request, PermissionDenied())
    assert response.status_code == 403
    assert "<h1>403 Forbidden</h1>" in response.content.decode()


def test_an_unnamed_threshold_is_the_default_threshold(login, make_request):
    request = make_request()
    page = login("bob").get(reverse("admin:requests_app_accessrequest_change", args=[request.pk]))
    html = page.content.decode()
    assert "Approval thresholds" in html and "Default threshold" in html
    assert ">default<" not in html


def test_request_page_moments_name_their_zone(login, make_request):
    request = make_request()
    html = (
        login("bob")
        .get(reverse("admin:requests_app_accessrequest_change", args=[request.pk]))
        .content.decode()
    )
    assert re.search(r'<time datetime="[^"]+">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC</time>', html)
    assert not re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", html)


def test_change_list_dates_name_their_zone(login, make_request, second_reviewer):
    from requests_app.services.reviews import review_submit

    request = make_request()
    review_submit(request_id=request.pk, reviewer=second_reviewer, state="APPROVED", reason="")
    html = login("bob").get(reverse("admin:requests_app_grant_changelist")).content.decode()
    assert re.search(
        r"<td class=\"field-starts[^\"]*\">\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC</td>", html
    )
