"""Model-level permission checks of the API. Object visibility is a queryset concern
(`AccessRequest.objects.visible_to`): what a caller may not see answers 404."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.permissions import IsAuthenticated

from requests_app.backends import role_permissions_at

VIEW_AUDIT = "requests_app.view_auditevent"
CHECK_ACCESS = "requests_app.check_access"


class HasPermission(IsAuthenticated):
    """The caller holds a Django permission (from a standing role or an active grant)."""

    perm = ""
    message = "you do not have permission to do this"

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.user.has_perm(self.perm)


class CanReadAudit(HasPermission):
    perm = VIEW_AUDIT
    message = f"reading the audit log needs the {VIEW_AUDIT} permission"


def may_check_access_of(caller, username: str, *, version: int | None = None) -> bool:
    """A user about themself, or holders of `requests_app.check_access`.

    With `version`, the caller's permission version read by a statement of this call (the
    access check's own), a permission from a role is answered from this process's memory
    while that version holds (`backends.role_permissions_at`); other sources (Django's
    user and group permissions, superusers) are asked as `has_perm` asks them."""
    if username == caller.get_username():
        return True
    if version is not None and CHECK_ACCESS in role_permissions_at(caller, version, timezone.now()):
        return True
    return caller.has_perm(CHECK_ACCESS)
