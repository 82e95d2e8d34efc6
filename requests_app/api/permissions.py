"""Model-level permission checks of the API. Object visibility is a queryset concern
(`AccessRequest.objects.visible_to`): what a caller may not see answers 404."""

from __future__ import annotations

from rest_framework.permissions import IsAuthenticated

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


def may_check_access_of(caller, username: str) -> bool:
    """A user about themself, or holders of `requests_app.check_access`."""
    return username == caller.get_username() or caller.has_perm(CHECK_ACCESS)
