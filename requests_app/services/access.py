"""Whether a user has a role or reaches a resource at an instant.

Answers from standing roles and from grants whose window contains the instant, so access
ends at its expiry even if no worker ever runs (invariant 5).

A hot path for integrations (bench/: `python -m bench access`): each check is one SQL
statement, served by the indexes `grant_user_role_expires` / `grant_user_resource_expires`
whatever the size of the grant table, and only the policies of the user's own roles are
read. The statements are written out rather than built with the ORM, whose query
compilation cost more than the database work here; they are plain SQL that PostgreSQL and
SQLite both run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from policies_app.documents import parse_resource_id
from policies_app.engine import ResourceRef, RolePolicy
from policies_app.models import Resource, Role
from requests_app.errors import ValidationFailed
from requests_app.models import Grant


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    expires: datetime | None = None  # None with allowed=True: standing access
    via: str = ""  # "standing", "grant" or ""


DENY = AccessDecision(False)


def active_grants(user: AbstractBaseUser | int, at: datetime | None = None):
    """Grants of `user` whose window contains `at` and that were not revoked by then."""
    at = at or timezone.now()
    user_id = user if isinstance(user, int) else user.pk
    return Grant.objects.filter(user_id=user_id, starts__lte=at, expires__gt=at).filter(
        Q(revoked_at=None) | Q(revoked_at__gt=at)
    )


def _tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    return {
        "grant": qn(Grant._meta.db_table),
        "role": qn(Role._meta.db_table),
        "member": qn(Role.members.through._meta.db_table),
        "resource": qn(Resource._meta.db_table),
    }


# A grant of user %(u)s open at %(at)s: the same window as `active_grants`.
_OPEN = (
    "g.user_id = %s AND g.starts <= %s AND g.expires > %s "
    "AND (g.revoked_at IS NULL OR g.revoked_at > %s)"
)

_ROLE_SQL = (
    "SELECT"
    " EXISTS (SELECT 1 FROM {member} m INNER JOIN {role} r ON r.id = m.role_id"
    "  WHERE m.user_id = %s AND r.name = %s),"
    " (SELECT MAX(g.expires) FROM {grant} g WHERE g.role = %s AND " + _OPEN + ")"
)

# Row 0 (kind 0): the resource, with the latest grant of it by name.
# Rows of kind 1: the user's standing roles and the roles granted to them now, each with
# its spec and the latest grant of it.
_RESOURCE_SQL = (
    "SELECT 0, '', res.labels, FALSE,"
    " (SELECT MAX(g.expires) FROM {grant} g WHERE g.resource = %s AND " + _OPEN + ")"
    " FROM {resource} res WHERE res.kind = %s AND res.name = %s"
    " UNION ALL "
    "SELECT 1, r.name, r.spec,"
    " EXISTS (SELECT 1 FROM {member} m WHERE m.role_id = r.id AND m.user_id = %s),"
    " (SELECT MAX(g.expires) FROM {grant} g WHERE g.role = r.name AND " + _OPEN + ")"
    " FROM {role} r"
    " WHERE EXISTS (SELECT 1 FROM {member} m WHERE m.role_id = r.id AND m.user_id = %s)"
    " OR r.name IN (SELECT g.role FROM {grant} g WHERE g.role <> '' AND " + _OPEN + ")"
)


def _window(user_id: int, at) -> list:
    return [user_id, at, at, at]


def db_datetime(value) -> datetime | None:
    """A timestamp from a raw row: aware already (PostgreSQL) or text (SQLite, UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(value)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def db_json(value) -> dict:
    """A JSON column from a raw row: text on both databases as Django configures them."""
    if isinstance(value, str):
        return json.loads(value)
    return value or {}


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        return cursor.fetchall()


def _role_decision(user_id: int, role: str, at: datetime) -> AccessDecision:
    at_db = connection.ops.adapt_datetimefield_value(at)
    (standing, until), *_ = _fetch(_ROLE_SQL, [user_id, role, role, *_window(user_id, at_db)])
    if standing:
        return AccessDecision(True, None, "standing")
    until = db_datetime(until)
    return AccessDecision(True, until, "grant") if until else DENY


def _resource_decision(user_id: int, resource: str, at: datetime) -> AccessDecision:
    kind, _, name = resource.partition("/")
    at_db = connection.ops.adapt_datetimefield_value(at)
    window = _window(user_id, at_db)
    rows = _fetch(
        _RESOURCE_SQL,
        [resource, *window, kind, name, user_id, *window, user_id, *window],
    )
    found = [row for row in rows if row[0] == 0]
    if not found:
        return DENY
    labels, direct_until = db_json(found[0][2]), db_datetime(found[0][4])
    ref = ResourceRef(kind, name, labels)
    reaching = [
        (bool(standing), db_datetime(until))
        for row_kind, role_name, spec, standing, until in rows
        if row_kind == 1 and RolePolicy(role_name, db_json(spec)).reaches(ref)
    ]
    if any(standing for standing, _ in reaching):
        return AccessDecision(True, None, "standing")
    expiries = [until for _, until in reaching if until]
    if direct_until:
        expiries.append(direct_until)
    expires = max(expiries, default=None)
    return AccessDecision(True, expires, "grant") if expires else DENY


def access_check(
    *,
    user: AbstractBaseUser,
    role: str | None = None,
    resource: str | None = None,
    at: datetime | None = None,
) -> AccessDecision:
    """Exactly one of `role` or `resource` (`kind/name`)."""
    if bool(role) == bool(resource):
        raise ValidationFailed("give exactly one of role or resource")
    at = at or timezone.now()
    if not user.is_active:
        return DENY
    if role:
        return _role_decision(user.pk, role, at)
    if parse_resource_id(resource) is None:
        raise ValidationFailed(f"{resource!r} is not a resource id (kind/name)", field="resource")
    return _resource_decision(user.pk, resource, at)
