"""Django's user and group permissions (ModelBackend, via LocalPasswordBackend) answer as
Django's own reads do, while a permission check costs one statement for the role backend
and ModelBackend together (issue 22: the review's visibility check asked three)."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from accessportal.sso.backends import LocalPasswordBackend
from requests_app.models import AccessRequest

pytestmark = pytest.mark.django_db


class DjangoModelBackend(ModelBackend):
    """Django's backend as shipped: two reads, the reference."""


def _perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="requests_app", codename=codename)


@pytest.fixture
def dave(django_user_model):
    """A user with no role, one permission of their own and one through a group."""
    user = django_user_model.objects.create_user("dave")
    user.user_permissions.add(_perm("revoke_grant"))
    group = Group.objects.create(name="resolvers")
    group.permissions.add(_perm("resolve_accessrequest"))
    user.groups.add(group)
    return user


def fresh(user):
    return type(user).objects.get(pk=user.pk)


def test_user_and_group_permissions_are_django_s(dave):
    ours, django = LocalPasswordBackend(), DjangoModelBackend()
    assert ours.get_user_permissions(fresh(dave)) == django.get_user_permissions(fresh(dave))
    assert ours.get_user_permissions(fresh(dave)) == {"requests_app.revoke_grant"}
    assert ours.get_group_permissions(fresh(dave)) == django.get_group_permissions(fresh(dave))
    assert ours.get_group_permissions(fresh(dave)) == {"requests_app.resolve_accessrequest"}
    assert ours.get_all_permissions(fresh(dave)) == django.get_all_permissions(fresh(dave))
    user = fresh(dave)
    assert user.has_perm("requests_app.revoke_grant")
    assert user.has_perm("requests_app.resolve_accessrequest")
    assert not user.has_perm("requests_app.view_auditevent")


def test_a_permission_check_is_one_statement_for_roles_users_and_groups(
    dave, django_assert_num_queries
):
    user = fresh(dave)
    with django_assert_num_queries(1):  # the role backend's, carrying ModelBackend's reads
        assert not user.has_perm("requests_app.view_auditevent")
        assert user.has_perm("requests_app.resolve_accessrequest")
        assert user.get_all_permissions() >= {"requests_app.revoke_grant"}


def test_a_group_s_see_all_permission_shows_every_request(dave, requester, django_user_model):
    from requests_app.services.access_requests import access_request_create

    request = access_request_create(requester=requester, roles=["db-admin"], reason="x")
    assert AccessRequest.objects.visible_to(fresh(dave)).filter(pk=request.pk).exists()
    dave.groups.clear()
    dave.user_permissions.clear()
    assert not AccessRequest.objects.visible_to(fresh(dave)).filter(pk=request.pk).exists()


def test_superusers_keep_every_permission(django_user_model):
    root = django_user_model.objects.create_superuser("root", password="x")
    assert LocalPasswordBackend().get_all_permissions(fresh(root)) == (
        DjangoModelBackend().get_all_permissions(fresh(root))
    )
    assert (
        len(LocalPasswordBackend().get_all_permissions(fresh(root))) == Permission.objects.count()
    )
