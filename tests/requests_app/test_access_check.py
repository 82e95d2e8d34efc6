"""Access ends at its expiry with no worker running: checks at exact instants."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from requests_app.selectors.access import DENY, access_check, access_check_by_name
from requests_app.services.access_requests import access_request_create
from requests_app.services.grants import access_request_revoke
from requests_app.services.reviews import review_submit

MICRO = timedelta(microseconds=1)


@pytest.fixture
def approved(requester, reviewer):
    with time_machine.travel("2026-05-01 10:00Z", tick=False):
        request = access_request_create(requester=requester, roles=["db-admin"], max_duration="1h")
        return review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")


def check(user, at, **target):
    with time_machine.travel(at, tick=False):
        return access_check(user=user, **target)


def test_role_access_lasts_exactly_the_window(requester, approved):
    end = approved.access_expires
    assert not check(requester, approved.access_starts - MICRO, role="db-admin").allowed
    assert check(requester, approved.access_starts, role="db-admin").allowed
    just_before = check(requester, end - MICRO, role="db-admin")
    assert just_before.allowed and just_before.expires == end
    assert not check(requester, end, role="db-admin").allowed
    assert not check(requester, end + timedelta(days=1), role="db-admin").allowed


def test_granted_role_reaches_its_resources_until_expiry(requester, approved):
    end = approved.access_expires
    assert check(requester, end - MICRO, resource="db/billing").allowed
    assert not check(requester, end, resource="db/billing").allowed
    assert not check(requester, end - MICRO, resource="node/web-dev-1").allowed


def test_django_permission_of_a_granted_role_ends_on_time(requester, approved):
    User = get_user_model()
    with time_machine.travel(approved.access_expires - MICRO, tick=False):
        assert User.objects.get(pk=requester.pk).has_perm("requests_app.check_access")
    with time_machine.travel(approved.access_expires, tick=False):
        assert not User.objects.get(pk=requester.pk).has_perm("requests_app.check_access")


def test_cached_permissions_lapse_at_the_grant_boundary(requester, approved):
    same_user = get_user_model().objects.get(pk=requester.pk)
    with time_machine.travel(approved.access_expires - MICRO, tick=False):
        assert same_user.has_perm("requests_app.check_access")
    with time_machine.travel(approved.access_expires, tick=False):
        assert not same_user.has_perm("requests_app.check_access")


def test_standing_role_is_allowed_without_expiry(requester):
    decision = access_check(user=requester, role="engineer")
    assert decision.allowed and decision.expires is None


def test_revoked_access_ends_at_revocation(requester, approved):
    with time_machine.travel(approved.access_starts + timedelta(minutes=10), tick=False):
        access_request_revoke(request_id=approved.id, actor=requester, reason="done early")
        assert not access_check(user=requester, role="db-admin").allowed
    assert check(requester, approved.access_starts + timedelta(minutes=5), role="db-admin").allowed


def test_resource_grant_covers_only_that_resource(requester, reviewer):
    request = access_request_create(requester=requester, resources=["node/db-prod-1"])
    review_submit(request_id=request.id, reviewer=reviewer, state="APPROVED")
    assert access_check(user=requester, resource="node/db-prod-1").allowed
    assert not access_check(user=requester, role="prod-access").allowed


def test_other_users_grants_do_not_count(approved, outsider):
    assert not access_check(user=outsider, role="db-admin").allowed


def test_inactive_user_has_no_access(requester, approved):
    requester.is_active = False
    requester.save()
    with time_machine.travel(approved.access_starts + timedelta(minutes=1), tick=False):
        assert not access_check(user=requester, role="db-admin").allowed


def test_a_permission_from_a_role_costs_one_query(requester, approved, django_assert_num_queries):
    """The role backend is asked first: ModelBackend's user and group queries are skipped
    whenever a role gives the permission (an integration's every access check)."""
    user = get_user_model().objects.get(pk=requester.pk)
    with time_machine.travel(approved.access_starts, tick=False), django_assert_num_queries(1):
        assert user.has_perm("requests_app.check_access")


def test_django_user_permissions_still_count_and_inactive_users_have_none(db):
    holder = get_user_model().objects.create_user("perm-holder")
    holder.user_permissions.add(Permission.objects.get(codename="check_access"))
    assert get_user_model().objects.get(pk=holder.pk).has_perm("requests_app.check_access")
    holder.is_active = False
    holder.save()
    assert not get_user_model().objects.get(pk=holder.pk).has_perm("requests_app.check_access")


def test_sessions_are_kept_by_the_password_backend_not_the_role_backend(client, requester):
    """The role backend comes first but signs nobody in: a session made by force_login (or
    a sign-in) must name a backend that can load the user again."""
    client.force_login(requester)
    assert client.session["_auth_user_backend"] == "accessportal.sso.backends.LocalPasswordBackend"
    assert client.get("/").status_code == 200


def test_checking_by_user_name_finds_the_user_in_the_same_statement(
    requester, approved, django_assert_num_queries
):
    with time_machine.travel(approved.access_starts, tick=False):
        # The statement alone (the use it records: tests/requests_app/test_usage.py).
        with django_assert_num_queries(1):
            decision = access_check_by_name(
                username=requester.username, role="db-admin", record_use=False
            )
        assert decision.allowed and decision.expires == approved.access_expires
        assert access_check_by_name(username="nobody-by-that-name", role="db-admin") is None
        requester.is_active = False
        requester.save()
        assert access_check_by_name(username=requester.username, role="db-admin").allowed is False
        assert access_check_by_name(username=requester.username, resource="db/billing") == DENY
