"""A superuser may approve or deny someone else's request directly even without holding
`requests_app.resolve_accessrequest` through a role, group or user permission; that is an
override, and it is visible: in the audit event, on the request (API field), and on the
admin desk's and the portal's request pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accessportal.kernel.models import AuditEvent
from requests_app.services.access_requests import access_request_create
from requests_app.services.resolution import access_request_resolve

RESOLVER = """
kind: role
name: resolver
spec:
  allow:
    permissions: [requests_app.resolve_accessrequest]
---
kind: user
name: rita
roles: [resolver]
"""


@pytest.fixture
def resolver_role(apply_yaml, base_policy):
    apply_yaml(RESOLVER)


def _event(request):
    return AuditEvent.objects.get(
        action__in=["request.approved", "request.denied"], target_id=str(request.id)
    )


def test_a_superuser_resolving_without_the_permission_is_recorded_as_an_override(requester, admin):
    request = access_request_create(requester=requester, roles=["db-admin"])
    resolved = access_request_resolve(
        request_id=request.id, actor=admin, state="APPROVED", reason="INC-9 at 3am"
    )
    assert resolved.resolved_by_override is True
    resolved.refresh_from_db()
    assert resolved.resolved_by_override is True
    event = _event(request)
    assert event.actor_name == "root"
    assert event.data["override"] is True and event.data["why"] == "superuser"


def test_a_holder_of_the_permission_is_no_override(requester, resolver_role, user):
    request = access_request_create(requester=requester, roles=["db-admin"])
    resolved = access_request_resolve(
        request_id=request.id, actor=user("rita"), state="DENIED", reason="no ticket"
    )
    assert resolved.resolved_by_override is False
    assert "override" not in _event(request).data


def test_a_superuser_who_holds_the_permission_through_a_role_is_no_override(
    requester, admin, resolver_role, apply_yaml
):
    apply_yaml("kind: user\nname: root\nroles: [resolver]\n")
    request = access_request_create(requester=requester, roles=["db-admin"])
    resolved = access_request_resolve(
        request_id=request.id, actor=admin, state="APPROVED", reason="CHG-1"
    )
    assert resolved.resolved_by_override is False
    assert "override" not in _event(request).data


def test_the_override_shows_in_the_api_and_on_both_request_pages(requester, admin):
    token = Token.objects.create(user=admin)
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    request = access_request_create(requester=requester, roles=["db-admin"])
    answer = api.post(f"/api/v1/requests/{request.id}/approve/", {"reason": "INC-9"}, format="json")
    assert answer.status_code == 200
    assert answer.json()["resolved_by"] == "root"
    assert answer.json()["resolved_by_override"] is True

    desk = Client()
    desk.force_login(admin)
    page = desk.get(f"/admin/requests_app/accessrequest/{request.id}/change/").content.decode()
    assert re.search(
        r"approved <time datetime=\"[^\"]+\">[^<]+ UTC</time> by override by root", page
    )

    portal = Client()
    portal.force_login(requester)
    page = portal.get(f"/requests/{request.id}/").content.decode()
    assert "by override by root" in page


def test_a_signed_in_superuser_approving_through_the_api_with_the_session_is_an_override(
    requester, admin
):
    # The Swagger UI and the browser use the session, where request.user is a lazy object.
    api = APIClient()
    api.force_login(admin)
    request = access_request_create(requester=requester, roles=["db-admin"])
    answer = api.post(f"/api/v1/requests/{request.id}/approve/", {"reason": "INC-9"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["resolved_by_override"] is True


def test_the_override_shows_in_the_audit_list_and_the_desk_trail(requester, admin):
    request = access_request_create(requester=requester, roles=["db-admin"])
    access_request_resolve(request_id=request.id, actor=admin, state="APPROVED", reason="INC-9")
    desk = Client()
    desk.force_login(admin)
    listing = desk.get("/admin/requests_app/auditevent/?action=request.approved")
    (row,) = listing.context["cl"].result_list
    assert "override: superuser" in listing.context["cl"].model_admin.summary(row)
    page = desk.get(f"/admin/requests_app/accessrequest/{request.id}/change/").content.decode()
    assert "request.approved</strong> by root · override" in page
