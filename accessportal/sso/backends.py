"""Authentication backends for sign-in with and without passwords.

`LocalPasswordBackend` stands where Django's ModelBackend stood: with
ACCESSPORTAL_LOCAL_LOGIN=off it checks passwords (portal, admin, API token login) only for
break-glass superusers (README, "Single sign-on"). `SSOSessionBackend` is the backend a
single sign-on session is recorded under: it authenticates nobody, it only loads the
session's user (active ones only).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.core.exceptions import PermissionDenied


def may_use_password(user) -> bool:
    """Whether password sign-in is open to `user` under the local-login setting."""
    if settings.ACCESSPORTAL_LOCAL_LOGIN:
        return True
    allowed = settings.ACCESSPORTAL_BREAK_GLASS_USERS
    return user.is_superuser and (not allowed or user.get_username() in allowed)


class LocalPasswordBackend(ModelBackend):
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
