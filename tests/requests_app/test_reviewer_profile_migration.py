"""Migration 0010 turns per-user reviewer rows into reviewer profile group rows."""

from __future__ import annotations

from importlib import import_module

from django.apps import apps
from django.contrib.auth.models import Group, Permission

from policies_app.models import ReviewerProfile
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.models import AccessRequestUserObjectPermission as UserPerm
from requests_app.selectors import requests_needing_review
from requests_app.services.access_requests import access_request_create

migration = import_module("requests_app.migrations.0010_reviewer_profile_rows")


def test_per_user_rows_become_profile_group_rows(requester, reviewer, second_reviewer):
    request = access_request_create(requester=requester, roles=["db-admin"])
    # The state before the migration: no profiles, a view and a review row per reviewer.
    Group.objects.filter(reviewer_profile__isnull=False).delete()
    perms = Permission.objects.filter(codename__in=["view_accessrequest", "review_accessrequest"])
    for person in (reviewer, second_reviewer):
        for perm in perms:
            UserPerm.objects.create(content_object=request, user=person, permission=perm)
    assert not ReviewerProfile.objects.exists()

    migration.forwards(apps, None)

    assert ReviewerProfile.objects.get().roles == ["reviewer"]
    assert GroupPerm.objects.filter(content_object=request).count() == 2
    users = set(
        UserPerm.objects.filter(content_object=request).values_list("user__username", flat=True)
    )
    assert users == {"alice"}
    assert list(requests_needing_review(reviewer)) == [request]
