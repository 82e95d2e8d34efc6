"""Django permissions from roles: standing ones, and granted ones while their grant lasts.

`user.has_perm("app.codename")` is answered from the `permissions` of the user's standing
roles and of the roles granted to them at this instant, so Django admin and DRF permission
classes see granted access exactly while it lasts.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.backends import BaseBackend
from django.db.models import DateTimeField, OuterRef, Subquery, Value
from django.utils import timezone

from policies_app.models import Role
from requests_app.models import Grant

_CACHE = "_accessportal_role_perms"


def _role_permissions(user_id: int, now: datetime) -> tuple[set[str], datetime | None]:
    """(permissions at `now`, the next instant a grant starts or ends, if any).

    One query: the specs of the standing roles, then every unrevoked, unexpired role grant
    with its role's spec (checked on every permission check, so it stays one round trip).
    """
    no_time = Value(None, output_field=DateTimeField())
    standing = (
        Role.objects.filter(members__pk=user_id).order_by().values_list("spec", no_time, no_time)
    )
    spec = Subquery(Role.objects.filter(name=OuterRef("role")).values("spec")[:1])
    grants = (
        Grant.objects.filter(user_id=user_id, revoked_at=None, expires__gt=now)
        .exclude(role="")
        .order_by()
        .annotate(_spec=spec)
        .values_list("_spec", "starts", "expires")
    )
    specs, boundaries = [], []
    for role_spec, starts, expires in standing.union(grants, all=True):
        if starts is None:
            specs.append(role_spec)
            continue
        if starts <= now:
            specs.append(role_spec)
            boundaries.append(expires)
        else:
            boundaries.append(starts)
    perms = {
        perm
        for role_spec in specs
        if role_spec
        for perm in role_spec.get("allow", {}).get("permissions", [])
    }
    return perms, min(boundaries, default=None)


class RolePermissionBackend(BaseBackend):
    """Model-level permissions only (object permissions come from django-guardian).

    Like Django's ModelBackend the answer is cached on the user object, which lives for
    one HTTP request; here the cache also lapses at the next grant boundary.
    """

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
            return set()
        now = timezone.now()
        cached = getattr(user_obj, _CACHE, None)
        if cached and cached[1] <= now and (cached[2] is None or now < cached[2]):
            return cached[0]
        perms, boundary = _role_permissions(user_obj.pk, now)
        setattr(user_obj, _CACHE, (perms, now, boundary))
        return perms

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return any(p.startswith(f"{app_label}.") for p in self.get_all_permissions(user_obj))
