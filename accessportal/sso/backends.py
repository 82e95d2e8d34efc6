"""Authentication backends for sign-in with and without passwords.

`LocalPasswordBackend` stands where Django's ModelBackend stood: with
ACCESSPORTAL_LOCAL_LOGIN=off it checks passwords (portal, admin, API token login) only for
break-glass superusers (README, "Single sign-on"). `SSOSessionBackend` is the backend a
single sign-on session is recorded under: it authenticates nobody, it only loads the
session's user (active ones only).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection


def may_use_password(user) -> bool:
    """Whether password sign-in is open to `user` under the local-login setting."""
    if settings.ACCESSPORTAL_LOCAL_LOGIN:
        return True
    allowed = settings.ACCESSPORTAL_BREAK_GLASS_USERS
    return user.is_superuser and (not allowed or user.get_username() in allowed)


def model_permissions_sql() -> str:
    """ModelBackend's two reads of a non-superuser's permissions as one statement of rows
    (source, "app_label.codename"): source 'u' from the user's own permissions, 'g' from
    their groups'. One parameter: the user id, twice. Written out (portable SQL) so that
    `RolePermissionBackend`'s statement can carry it too: a permission check then costs
    one query for both backends instead of three."""
    qn = connection.ops.quote_name
    user = get_user_model()
    perm, ctype = qn(Permission._meta.db_table), qn(ContentType._meta.db_table)
    user_perms = qn(user.user_permissions.through._meta.db_table)
    group_perms = qn(Group.permissions.through._meta.db_table)
    user_groups = qn(user.groups.through._meta.db_table)
    name = "c.app_label || '.' || p.codename"
    return (
        f"SELECT 'u', {name} FROM {perm} p INNER JOIN {ctype} c ON c.id = p.content_type_id"
        f" INNER JOIN {user_perms} up ON up.permission_id = p.id WHERE up.user_id = %s"
        " UNION ALL "
        f"SELECT 'g', {name} FROM {perm} p INNER JOIN {ctype} c ON c.id = p.content_type_id"
        f" INNER JOIN {group_perms} gp ON gp.permission_id = p.id"
        f" INNER JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s"
    )


def model_permissions_prime(user_obj, rows) -> None:
    """Fill ModelBackend's caches on `user_obj` (its user, group and all-permission sets,
    which live as long as the user object: one HTTP request) from `model_permissions_sql`'s
    rows. Superusers are left alone: ModelBackend answers every permission for them."""
    if user_obj.is_superuser or not user_obj.is_active or user_obj.is_anonymous:
        return
    user_perms = {perm for source, perm in rows if source == "u"}
    group_perms = {perm for source, perm in rows if source == "g"}
    user_obj._user_perm_cache = user_perms
    user_obj._group_perm_cache = group_perms
    user_obj._perm_cache = user_perms | group_perms


class LocalPasswordBackend(ModelBackend):
    def _get_permissions(self, user_obj, obj, from_name):
        """ModelBackend's, with the user's and the groups' permissions read in one statement
        (`model_permissions_sql`) the first time either is asked."""
        cached = f"_{from_name}_perm_cache"
        if (
            not hasattr(user_obj, cached)
            and user_obj.is_active
            and not user_obj.is_anonymous
            and not user_obj.is_superuser
            and obj is None
        ):
            with connection.cursor() as cursor:
                cursor.execute(model_permissions_sql(), [user_obj.pk, user_obj.pk])
                model_permissions_prime(user_obj, cursor.fetchall())
        return super()._get_permissions(user_obj, obj, from_name)

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not may_use_password(user):
            # Counted as a failure (django-axes) and ends the search for another backend.
            raise PermissionDenied("password sign-in is turned off for this account")
        return user


class SSOSessionBackend(BaseBackend):
    def get_user(self, user_id):
        from django.contrib.auth import get_user_model

        user = get_user_model()._default_manager.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
