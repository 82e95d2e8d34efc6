"""Django permissions from roles: standing ones, and granted ones while their grant lasts.

`user.has_perm("app.codename")` is answered from the `permissions` of the user's standing
roles and of the roles granted to them at this instant, so Django admin and DRF permission
classes see granted access exactly while it lasts.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.utils import timezone
from guardian.backends import ObjectPermissionBackend

from accessportal.sso.backends import model_permissions_prime, model_permissions_sql
from policies_app.models import Role
from policies_app.selectors import spec_permissions
from requests_app.models import Grant
from requests_app.querysets import grant_is_open, grant_unended_sql
from requests_app.selectors.access import db_datetime, db_json

_CACHE = "_accessportal_role_perms"


_PERMISSIONS_SQL = (
    "SELECT r.spec, NULL, NULL, NULL, NULL, NULL FROM {role} r"
    " INNER JOIN {member} m ON m.role_id = r.id WHERE m.user_id = %s"
    " UNION ALL "
    "SELECT (SELECT r.spec FROM {role} r WHERE r.name = g.role), g.starts, g.expires,"
    " g.revoked_at, NULL, NULL FROM {grant} g"
    " WHERE g.user_id = %s AND g.role <> '' AND " + grant_unended_sql() + " UNION ALL "
    "SELECT NULL, NULL, NULL, NULL, mp.* FROM ({model}) mp"
)


def _role_permissions(user_id: int, now: datetime, prime=None) -> tuple[set[str], datetime | None]:
    """(permissions at `now`, the next instant a grant starts or ends, if any).

    One statement, asked on every permission check: the specs of the standing roles, then
    every role grant open now or later (`Grant.objects.unended_at`) with its role's spec.
    Written out (portable SQL) rather than built with the ORM, whose compilation of it cost
    more than running it. The same statement carries ModelBackend's user and group
    permissions (`sso.backends.model_permissions_sql`), with which it fills ModelBackend's
    caches on `prime` (the user object): a check this backend does not answer yes to goes
    on to ModelBackend, which then asks nothing (1 query instead of 3).
    """
    qn = connection.ops.quote_name
    sql = _PERMISSIONS_SQL.format(
        role=qn(Role._meta.db_table),
        member=qn(Role.members.through._meta.db_table),
        grant=qn(Grant._meta.db_table),
        model=model_permissions_sql(),
    )
    with connection.cursor() as cursor:
        now_db = connection.ops.adapt_datetimefield_value(now)
        cursor.execute(sql, [user_id, user_id, now_db, now_db, user_id, user_id])
        rows = cursor.fetchall()
    specs, boundaries, model_rows = [], [], []
    for role_spec, starts, expires, revoked_at, source, perm in rows:
        if source is not None:
            model_rows.append((source, perm))
            continue
        if starts is None:
            specs.append(role_spec)
            continue
        starts, expires, revoked_at = map(db_datetime, (starts, expires, revoked_at))
        if grant_is_open(starts, expires, revoked_at, now):
            specs.append(role_spec)
            boundaries.append(min(expires, revoked_at or expires))
        else:
            boundaries.append(starts)
    if prime is not None:
        model_permissions_prime(prime, model_rows)
    perms = {
        perm for role_spec in specs if role_spec for perm in spec_permissions(db_json(role_spec))
    }
    return perms, min(boundaries, default=None)


# Per process: user id -> (permission version, role permissions, computed at, next grant
# boundary). Only `role_permissions_at` reads and writes it.
_BY_VERSION: dict[int, tuple[str, frozenset[str], datetime, datetime | None]] = {}
_BY_VERSION_LIMIT = 10_000


def role_permissions_at(user_obj, version: str, now: datetime) -> set[str] | frozenset[str]:
    """`RolePermissionBackend.get_all_permissions(user_obj)` at `now`, kept in this process's
    memory while the user's permission version (`kernel.models.permission_version_sql`) is
    `version` and no grant of theirs has started or ended since.

    `version` must have been read from the database by a statement that ran before this
    call (the access check reads it in its own statement): permissions computed afterwards
    are at least that recent, so a later change, committed before the next read of the
    version, makes that version differ and the permissions are read again. The counters
    are bumped by triggers in the changing transaction (migration 0029): a revoked
    membership, grant or role spec is never answered from memory once committed.
    The answer also primes the user object's own cache (`has_perm` then asks nothing)."""
    if not user_obj.is_active or user_obj.is_anonymous:
        return set()
    entry = _BY_VERSION.get(user_obj.pk)
    if entry and entry[0] == version and entry[2] <= now and (entry[3] is None or now < entry[3]):
        perms, boundary = entry[1], entry[3]
    else:
        perms, boundary = _role_permissions(user_obj.pk, now, prime=user_obj)
        perms = frozenset(perms)
        if len(_BY_VERSION) >= _BY_VERSION_LIMIT:
            _BY_VERSION.clear()
        _BY_VERSION[user_obj.pk] = (version, perms, now, boundary)
    setattr(user_obj, _CACHE, (perms, now, boundary))
    return perms


def role_permissions_forget() -> None:
    """Drop this process's memory of role permissions (tests: a rolled-back transaction
    takes its counters back with it, which never happens to a committed change)."""
    _BY_VERSION.clear()


class RolePermissionBackend:
    """Model-level permissions only (object permissions come from django-guardian).

    Like Django's ModelBackend the answer is cached on the user object, which lives for
    one HTTP request; here the cache also lapses at the next grant boundary.

    Listed first in AUTHENTICATION_BACKENDS, so `has_perm` asks it before ModelBackend. It
    signs nobody in and deliberately has no `get_user`: Django picks the first backend with
    one for `force_login` and sessions, which must stay ModelBackend.
    """

    def authenticate(self, request, **credentials) -> None:
        return None

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj=obj)  # none when inactive

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None or not user_obj.is_active or user_obj.is_anonymous:
            return set()
        now = timezone.now()
        cached = getattr(user_obj, _CACHE, None)
        if cached and cached[1] <= now and (cached[2] is None or now < cached[2]):
            return cached[0]
        perms, boundary = _role_permissions(user_obj.pk, now, prime=user_obj)
        setattr(user_obj, _CACHE, (perms, now, boundary))
        return perms

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return any(p.startswith(f"{app_label}.") for p in self.get_all_permissions(user_obj))


class AccessRequestPermissionBackend(ObjectPermissionBackend):
    """django-guardian's object permissions, with the two request permissions answered as
    the rules say (guardian alone would let a superuser review their own request).

    - `review_accessrequest` on a request: `selectors.may_review` (active, never the
      requester, superusers included) while someone may still act on the request, read
      from the request's guardian rows: the user's reviewer profile group holds it, and
      its review window is open now. The rows end when the request leaves PENDING (or its
      break-glass use is judged), so on a finished request it is always False.
    - `view_accessrequest` on a request: exactly `AccessRequest.objects.visible_to(user)`
      (the requester, eligible and past reviewers, auditors and superusers).
    Other objects and permissions: guardian as is.
    """

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        from requests_app.models import AccessRequest

        if not isinstance(obj, AccessRequest):
            return super().has_perm(user_obj, perm, obj)
        codename = perm.split(".", 1)[1] if "." in perm else perm
        if perm != codename and not perm.startswith("requests_app."):
            return False
        if user_obj.is_anonymous or not user_obj.is_active:
            return False
        if codename == "view_accessrequest":
            return AccessRequest.objects.visible_to(user_obj).filter(pk=obj.pk).exists()
        if codename == "review_accessrequest":
            if user_obj.pk == obj.user_id:
                return False
            # The reviewer profile group's row, within its review window (a
            # `request.pending_for` rule opens it later), as the review queues read it; no
            # superuser shortcut.
            return AccessRequest.objects.reviewable_by(user_obj).filter(pk=obj.pk).exists()
        return super().has_perm(user_obj, perm, obj)
