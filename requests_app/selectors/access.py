"""Whether a user has a role or reaches a resource at an instant.

Answers from standing roles and from grants whose window contains the instant, so access
ends at its expiry even if no worker ever runs (invariant 5).

A hot path for integrations (bench/: `python -m bench access`): each check is one SQL
statement, served by the indexes `grant_user_role_expires` / `grant_user_resource_expires`
whatever the size of the grant table, and only the policies of the user's own roles are
read. The statements are written out rather than built with the ORM, whose query
compilation cost more than the database work here; they are plain SQL that PostgreSQL and
SQLite both run.

The one write here: an allowed answer from grants records their use
(`services.usage.grant_usage_record`, at most once per grant per USAGE_RECORD_INTERVAL, never
failing the check). It is not a state change (no audit event) and never changes the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accessportal.kernel.errors import ValidationFailed
from accessportal.kernel.models import permission_version_sql
from policies_app.documents import parse_resource_id
from policies_app.engine import ResourceRef, RolePolicy
from policies_app.models import Resource, Role
from requests_app.models import Grant
from requests_app.querysets import grant_open_sql
from requests_app.services.usage import grant_usage_record


@dataclass(frozen=True)
class AccessDecision:
    allowed: bool
    expires: datetime | None = None  # None with allowed=True: standing access
    via: str = ""  # "standing", "grant" or ""
    # The grants' items behind an allowed "grant" decision, and whose: what a use records.
    used_roles: tuple[str, ...] = field(default=(), compare=False, repr=False)
    used_resources: tuple[str, ...] = field(default=(), compare=False, repr=False)
    user_id: int | None = field(default=None, compare=False, repr=False)


DENY = AccessDecision(False)


def active_grants(user: AbstractBaseUser | int, at: datetime | None = None):
    """Grants of `user` open at `at` (`Grant.objects.open_at`)."""
    user_id = user if isinstance(user, int) else user.pk
    return Grant.objects.filter(user_id=user_id).open_at(at or timezone.now())


def _tables() -> dict[str, str]:
    qn = connection.ops.quote_name
    User = get_user_model()
    return {
        "grant": qn(Grant._meta.db_table),
        "role": qn(Role._meta.db_table),
        "member": qn(Role.members.through._meta.db_table),
        "resource": qn(Resource._meta.db_table),
        "user": qn(User._meta.db_table),
        "pk": qn(User._meta.pk.column),
        "username": qn(User._meta.get_field(User.USERNAME_FIELD).column),
        "active": qn(User._meta.get_field("is_active").column),
        # The caller's permission version, as text (its id: the last placeholder).
        "version": permission_version_sql(connection.vendor),
        # The checked user's id where active; NULL (matching nothing) otherwise.
        "uid": "(SELECT s.id FROM subject s WHERE s.active)",
    }


# The checked user, by primary key or by user name (one row, or none if there is none).
# RECURSIVE: the statements below add the chains of approved access (`_chain`).
_SUBJECT = (
    "WITH RECURSIVE subject AS "
    "(SELECT u.{pk} AS id, u.{active} AS active FROM {user} u WHERE u.%s = %%s) "
)
_SUBJECT_BY_ID = _SUBJECT % "{pk}"
_SUBJECT_BY_NAME = _SUBJECT % "{username}"

# A grant of the checked user open at %(at)s (`Grant.objects.open_at`, three placeholders).
_OPEN = "g.user_id = {uid} AND " + grant_open_sql()


# The chain of approved access: from the open grants of an item, each grant of the same
# user and item open at the end reached so far (and not revoked by %(at)s) carries the
# end to its own (an approved extension takes over where the access it continues ends).
# The same rule as `grants.continuation_exists`, which the sweeps use.
def _chain(cte: str, *, item: str = "", join: str = "", where: str = "") -> str:
    return (
        f" UNION SELECT {item}g.expires FROM {{grant}} g INNER JOIN {cte} c"
        f" ON {join}{grant_open_sql('c.e', revoked_by='%s')}"
        f" WHERE g.user_id = {{uid}}{where}"
    )


# (standing, end of the chain of open grants, whether the user exists)
_ROLE_SQL = (
    ", chain(e) AS (SELECT MAX(g.expires) FROM {grant} g WHERE g.role = %s AND "
    + _OPEN
    + _chain("chain", where=" AND g.role = %s")
    + ") "
    "SELECT"
    " EXISTS (SELECT 1 FROM {member} m INNER JOIN {role} r ON r.id = m.role_id"
    "  WHERE m.user_id = {uid} AND r.name = %s),"
    " (SELECT MAX(c.e) FROM chain c),"
    " (SELECT COUNT(*) FROM subject),"
    " {uid}"
)

# rchain: per granted role, the end of its chain; dchain: the resource's own.
# Row 0 (kind 0): the resource, with the end of its direct grants' chain.
# Rows of kind 1: the user's standing roles and the roles granted to them now, each with
# its spec and the end of its chain. Row 2: the user exists.
_RESOURCE_SQL = (
    ", rchain(name, e) AS ("
    "SELECT g.role, MAX(g.expires) FROM {grant} g WHERE g.role <> '' AND "
    + _OPEN
    + " GROUP BY g.role"
    + _chain("rchain", item="g.role, ", join="g.role = c.name AND ")
    + "), dchain(e) AS (SELECT MAX(g.expires) FROM {grant} g WHERE g.resource = %s AND "
    + _OPEN
    + _chain("dchain", where=" AND g.resource = %s")
    + ") "
    "SELECT 0, '', res.labels, FALSE, (SELECT MAX(c.e) FROM dchain c)"
    " FROM {resource} res WHERE res.kind = %s AND res.name = %s"
    " UNION ALL "
    "SELECT 1, r.name, r.spec,"
    " EXISTS (SELECT 1 FROM {member} m WHERE m.role_id = r.id AND m.user_id = {uid}),"
    " (SELECT MAX(c.e) FROM rchain c WHERE c.name = r.name)"
    " FROM {role} r"
    " WHERE EXISTS (SELECT 1 FROM {member} m WHERE m.role_id = r.id AND m.user_id = {uid})"
    " OR r.name IN (SELECT c.name FROM rchain c)"
    " UNION ALL "
    "SELECT 2, CAST(s.id AS VARCHAR(20)), NULL, FALSE, NULL FROM subject s"
)


# The same statements, also answering the permission version of another user (the caller,
# whose right to ask is kept in memory while it holds: `backends.role_permissions_at`).
# One more placeholder, last: that user's id.
_ROLE_SQL_VERSIONED = _ROLE_SQL + ", {version}"
_RESOURCE_SQL_VERSIONED = _RESOURCE_SQL + " UNION ALL SELECT 3, {version}, NULL, FALSE, NULL"


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


@cache
def _statement(vendor: str, subject: str, sql: str) -> str:
    return (subject + sql).format(**_tables())


def _fetch(subject: str, sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_statement(connection.vendor, subject, sql), params)
        return cursor.fetchall()


def _role_decision(subject: str, key, role: str, at: datetime, version_of) -> tuple:
    at_db = connection.ops.adapt_datetimefield_value(at)
    params = [key, role, at_db, at_db, at_db, at_db, role, role]
    if version_of is None:
        (standing, until, exists, user_id), *_ = _fetch(subject, _ROLE_SQL, params)
        version = None
    else:
        rows = _fetch(subject, _ROLE_SQL_VERSIONED, [*params, version_of])
        (standing, until, exists, user_id, version), *_ = rows
    if not exists:
        return None, version
    if standing:
        return AccessDecision(True, None, "standing"), version
    until = db_datetime(until)
    if not until:
        return DENY, version
    return AccessDecision(True, until, "grant", used_roles=(role,), user_id=user_id), version


def _resource_decision(subject: str, key, resource: str, at: datetime, version_of) -> tuple:
    kind, _, name = resource.partition("/")
    at_db = connection.ops.adapt_datetimefield_value(at)
    window = [at_db, at_db, at_db]
    params = [key, *window, at_db, resource, *window, at_db, resource, kind, name]
    if version_of is None:
        rows, version = _fetch(subject, _RESOURCE_SQL, params), None
    else:
        rows = _fetch(subject, _RESOURCE_SQL_VERSIONED, [*params, version_of])
        version = next(row[1] for row in rows if row[0] == 3)
    subject_row = next((row for row in rows if row[0] == 2), None)
    if subject_row is None:
        return None, version
    found = [row for row in rows if row[0] == 0]
    if not found:
        return DENY, version
    labels, direct_until = db_json(found[0][2]), db_datetime(found[0][4])
    ref = ResourceRef(kind, name, labels)
    reaching = [
        (role_name, bool(standing), db_datetime(until))
        for row_kind, role_name, spec, standing, until in rows
        if row_kind == 1 and RolePolicy(role_name, db_json(spec)).reaches(ref)
    ]
    if any(standing for _, standing, _ in reaching):
        return AccessDecision(True, None, "standing"), version
    expiries = [until for _, _, until in reaching if until]
    if direct_until:
        expiries.append(direct_until)
    expires = max(expiries, default=None)
    if not expires:
        return DENY, version
    return AccessDecision(
        True, expires, "grant",
        used_roles=tuple(name for name, _, until in reaching if until),
        used_resources=(resource,) if direct_until else (),
        user_id=int(subject_row[1]),
    ), version  # fmt: skip


def access_use_record(decision: AccessDecision | None, at: datetime) -> None:
    """Record the use of the grants behind `decision` (`services.usage`). Only an allowed
    decision from grants carries a user id: a denied check or standing access records
    nothing. Never raises."""
    if decision is not None and decision.user_id is not None:
        grant_usage_record(
            user_id=decision.user_id,
            roles=decision.used_roles,
            resources=decision.used_resources,
            at=at,
        )


def _decide(subject, key, role, resource, at, record_use, version_of=None) -> tuple:
    if bool(role) == bool(resource):
        raise ValidationFailed("give exactly one of role or resource")
    if record_use is None:
        record_use = at is None  # a check about another instant is not a use
    at = at or timezone.now()
    if role:
        decision, version = _role_decision(subject, key, role, at, version_of)
    elif parse_resource_id(resource) is None:
        raise ValidationFailed(f"{resource!r} is not a resource id (kind/name)", field="resource")
    else:
        decision, version = _resource_decision(subject, key, resource, at, version_of)
    if record_use:
        access_use_record(decision, at)
    return decision, version


def access_check(
    *,
    user: AbstractBaseUser,
    role: str | None = None,
    resource: str | None = None,
    at: datetime | None = None,
    record_use: bool | None = None,
) -> AccessDecision:
    """Exactly one of `role` or `resource` (`kind/name`). An inactive user has no access.

    An allowed answer from grants records their use (`services.usage`): by default when
    asked about now (`at` omitted); `record_use` says otherwise."""
    return _decide(_SUBJECT_BY_ID, user.pk, role, resource, at, record_use)[0] or DENY


def access_check_by_name(
    *,
    username: str,
    role: str | None = None,
    resource: str | None = None,
    at: datetime | None = None,
    record_use: bool | None = None,
) -> AccessDecision | None:
    """`access_check` for the user with this user name, looked up in the same statement
    (the API's hot path: one query for an integration asking about someone).

    None when there is no such user."""
    return _decide(_SUBJECT_BY_NAME, username, role, resource, at, record_use)[0]


def access_check_by_name_for(
    *,
    caller_id: int | None,
    username: str,
    role: str | None = None,
    resource: str | None = None,
    at: datetime,
) -> tuple[AccessDecision | None, int]:
    """`access_check_by_name` (recording no use), and the permission version of the user
    `caller_id` read in the same statement (`backends.role_permissions_at`; None without
    `caller_id`): the API asks
    whether the caller may see the answer after the one round trip, and records the use
    (`access_use_record`) only if so."""
    return _decide(_SUBJECT_BY_NAME, username, role, resource, at, False, caller_id)
