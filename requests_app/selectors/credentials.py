"""Reads of signed credentials: what a credential says, the public JWKS, the keys' list.

`credential_subject` is the issuance hot path (bench/: `python -m bench credentials`): the
caller's standing roles, their grants open now and the key that signs now, in one
statement written out rather than built with the ORM (as `selectors.access` does, for the
same reason: three ORM queries cost more in compilation and round trips than the database
work). It is built from the shared fragments of each rule (`grant_open_sql`,
`signing_key_sql`), and tests/requests_app/test_credentials.py proves it reads what
`standing_role_names`, `active_grants` and `SigningKey.objects.signing_at` read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from policies_app.models import Role
from requests_app.credential_models import SigningKey, signing_key_sql
from requests_app.models import Grant
from requests_app.querysets import grant_open_sql
from requests_app.selectors.access import db_datetime


@dataclass(frozen=True)
class OpenGrant:
    role: str
    resource: str
    expires: datetime
    request_id: str


@dataclass(frozen=True)
class CredentialSubject:
    roles: list[str]  # standing, sorted
    grants: list[OpenGrant]  # open at the instant asked, earliest end first
    signer: tuple[str, str] | None  # (kid, alg) of the key that signs then; None: no key


# Part 0: standing roles; 1: grants open at %s (three placeholders); 2: the signing key.
_SQL = (
    "SELECT 0 AS part, r.name AS a, '' AS b, NULL AS t, '' AS c"
    " FROM {member} m INNER JOIN {role} r ON r.id = m.role_id WHERE m.user_id = %s"
    " UNION ALL "
    "SELECT 1, g.role, g.resource, g.expires, CAST(g.request_id AS VARCHAR(36))"
    " FROM {grant} g WHERE g.user_id = %s AND " + grant_open_sql() + " UNION ALL "
    "SELECT * FROM (SELECT 2 AS part, k.kid, k.alg, k.signs_from, ''"
    " FROM {key} k WHERE " + signing_key_sql() + " ORDER BY k.signs_from DESC, k.id DESC"
    " LIMIT 1) s"
)


@cache
def _statement(vendor: str) -> str:
    qn = connection.ops.quote_name
    return _SQL.format(
        member=qn(Role.members.through._meta.db_table),
        role=qn(Role._meta.db_table),
        grant=qn(Grant._meta.db_table),
        key=qn(SigningKey._meta.db_table),
    )


def credential_subject(*, user_id: int, at: datetime) -> CredentialSubject:
    """What a credential of user `user_id` issued at `at` says, and who signs it."""
    at_db = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(_statement(connection.vendor), [user_id, user_id, at_db, at_db, at_db,
                                                       at_db, at_db, at_db])  # fmt: skip
        rows = cursor.fetchall()
    roles = sorted(a for part, a, _, _, _ in rows if part == 0)
    grants = sorted(
        (
            OpenGrant(role, resource, db_datetime(expires), str(uuid.UUID(request)))
            for part, role, resource, expires, request in rows
            if part == 1
        ),
        key=lambda g: (g.expires, g.role, g.resource, g.request_id),
    )
    signer = next(((kid, alg) for part, kid, alg, _, _ in rows if part == 2), None)
    return CredentialSubject(roles=roles, grants=grants, signer=signer)


def jwks(at: datetime | None = None) -> dict:
    """The JSON Web Key Set a downstream service verifies credentials with: the public
    keys published at `at` (now), newest first. Never a private key: the column is not
    even read."""
    rows = SigningKey.objects.published_at(at or timezone.now()).values_list(
        "public_jwk", flat=True
    )
    return {"keys": list(rows)}


def signing_keys() -> QuerySet[SigningKey]:
    """Every signing key, newest first, without its sealed private key."""
    return SigningKey.objects.defer("private_key")
