"""Privileges handed out in Django's stock User and Group admin, outside policy files, are
audited like every other change: one event per save, the admin as actor, a diff of flags,
groups and permissions, and a password recorded as changed, never its hash."""

from __future__ import annotations

import pytest
from django.contrib import admin as django_admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import ProtectedError
from django.test import RequestFactory

from accessportal.kernel.audit import audit_verify
from accessportal.kernel.models import AuditEvent
from requests_app.services.tokens import api_token_create


def perm(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="requests_app", codename=codename)


def change_form(user, **changes) -> dict:
    """What Django's user change form posts for `user`, with `changes` applied."""
    data = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": user.email,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        # The form offers no reviewer profile group: those follow roles and traits.
        "groups": [g.pk for g in user.groups.filter(reviewer_profile__isnull=True)],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_granting_superuser_a_group_and_a_permission_in_the_user_admin_is_audited(
    root_client, reviewer
):
    resolvers = Group.objects.create(name="resolvers")
    answer = root_client.post(
        f"/admin/auth/user/{reviewer.pk}/change/",
        change_form(
            reviewer,
            is_superuser="on",
            is_staff="on",
            groups=[resolvers.pk],
            user_permissions=[perm("resolve_accessrequest").pk],
        ),
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    event = AuditEvent.objects.get(action="account.changed")
    assert (event.actor_name, event.target_type, event.target_id) == (
        "root",
        "user",
        str(reviewer.pk),
    )
    assert event.data == {
        "user": "bob",
        "changes": {
            "is_superuser": [False, True],
            "is_staff": [False, True],
            "groups": {"added": ["resolvers"], "removed": []},
            "user_permissions": {
                "added": ["requests_app.resolve_accessrequest"],
                "removed": [],
            },
        },
    }
    assert audit_verify().ok


def test_saving_an_account_unchanged_records_nothing(root_client, reviewer):
    answer = root_client.post(f"/admin/auth/user/{reviewer.pk}/change/", change_form(reviewer))
    assert answer.status_code == 302
    assert not AuditEvent.objects.filter(action__startswith="account.").exists()


def test_a_password_set_by_an_admin_is_audited_without_its_hash(root_client, reviewer):
    answer = root_client.post(
        f"/admin/auth/user/{reviewer.pk}/password/",
        {
            "password1": "A-long-new-passphrase-42",
            "password2": "A-long-new-passphrase-42",
            "set_usable_password": "true",
        },
    )
    assert answer.status_code == 302
    reviewer.refresh_from_db()
    event = AuditEvent.objects.get(action="account.changed")
    assert event.actor_name == "root"
    assert event.data == {"user": "bob", "changes": {"password": "set"}}
    assert reviewer.password not in str(event.data)


def test_a_permission_added_to_a_group_is_audited_with_its_members(root_client, reviewer):
    group = Group.objects.create(name="revokers")
    reviewer.groups.add(group)
    answer = root_client.post(
        f"/admin/auth/group/{group.pk}/change/",
        {"name": "revokers", "permissions": [perm("revoke_grant").pk]},
    )
    assert answer.status_code == 302
    event = AuditEvent.objects.get(action="group.changed")
    assert event.actor_name == "root"
    assert event.data == {
        "group": "revokers",
        "members": ["bob"],
        "changes": {"permissions": {"added": ["requests_app.revoke_grant"], "removed": []}},
    }


def test_an_account_created_in_the_admin_is_audited(root_client, base_policy):
    answer = root_client.post(
        "/admin/auth/user/add/",
        {
            "username": "newbie",
            "password1": "A-long-new-passphrase-42",
            "password2": "A-long-new-passphrase-42",
            "usable_password": "true",
        },
    )
    assert answer.status_code == 302
    event = AuditEvent.objects.get(action="account.created")
    assert event.actor_name == "root"
    assert event.data == {
        "username": "newbie",
        "is_superuser": False,
        "is_staff": False,
        "is_active": True,
        "groups": [],
        "user_permissions": [],
        "password": "set",
    }


@pytest.mark.parametrize("how", ["delete_view", "bulk"])
def test_deleting_a_group_records_what_its_members_held(root_client, reviewer, how):
    group = Group.objects.create(name="resolvers")
    group.permissions.add(perm("resolve_accessrequest"))
    reviewer.groups.add(group)
    if how == "delete_view":
        answer = root_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"})
    else:
        answer = root_client.post(
            "/admin/auth/group/",
            {"action": "delete_selected", "_selected_action": [group.pk], "post": "yes"},
        )
    assert answer.status_code == 302
    assert not Group.objects.filter(name="resolvers").exists()
    event = AuditEvent.objects.get(action="group.deleted")
    assert event.data == {
        "name": "resolvers",
        "permissions": ["requests_app.resolve_accessrequest"],
        "members": ["bob"],
    }


@pytest.mark.django_db(transaction=True)
def test_a_bulk_deletion_that_fails_leaves_no_deletion_event(admin, reviewer):
    """Django runs the admin's "delete selected" action outside any transaction: the
    deletion events and the deletion must commit together, or neither. Here the deletion
    fails (bob acted, and `AuditEvent.actor` protects him: he was made an actor between the
    confirmation page's check and the deletion), so no event says he was deleted."""
    api_token_create(user=reviewer)  # bob acts: an audit event names him
    request = RequestFactory().post("/admin/auth/user/")
    request.user = admin
    user_admin = django_admin.site._registry[get_user_model()]
    with pytest.raises(ProtectedError):
        user_admin.delete_queryset(request, get_user_model().objects.filter(pk=reviewer.pk))
    assert get_user_model().objects.filter(pk=reviewer.pk).exists()
    assert not AuditEvent.objects.filter(action="account.deleted").exists()


def test_the_audit_list_says_whose_account_changed_and_what(root_client, reviewer):
    url = f"/admin/auth/user/{reviewer.pk}/change/"
    assert root_client.post(url, change_form(reviewer, is_staff="on")).status_code == 302
    page = root_client.get("/admin/requests_app/auditevent/?action=account.changed")
    (row,) = page.context["cl"].result_list
    assert page.context["cl"].model_admin.summary(row) == "user: bob; changed: is_staff"
