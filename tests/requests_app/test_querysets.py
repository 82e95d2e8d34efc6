"""Each time rule has one ORM definition and, where hand-written SQL needs it, one SQL
fragment: these tests prove the twins select the same rows over the edge cases (a start or
an end exactly at t, a revocation before, at or after t)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from accessportal.kernel.choices import RequestState
from requests_app.backends import _role_permissions
from requests_app.models import AccessRequest, Grant
from requests_app.querysets import grant_open_sql, grant_unended_sql
from requests_app.selectors.access import access_check
from requests_app.services.grants import continuation_exists, continuation_exists_sql
from tests.requests_app.clock import H, S

T = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

# name: (starts, expires, revoked_at), relative to T
EDGES = {
    "starts_at_t": (T, T + H, None),
    "starts_after_t": (T + S, T + H, None),
    "expires_at_t": (T - H, T, None),
    "expires_after_t": (T - H, T + S, None),
    "revoked_before_t": (T - H, T + H, T - S),
    "revoked_at_t": (T - H, T + H, T),
    "revoked_after_t": (T - H, T + H, T + S),
    "scheduled_revoked_after_t": (T + H, T + 2 * H, T + S),
    "ended_long_ago": (T - 3 * H, T - 2 * H, None),
}
OPEN_AT_T = {"starts_at_t", "expires_after_t", "revoked_after_t"}
UNENDED_AT_T = OPEN_AT_T | {"starts_after_t", "scheduled_revoked_after_t"}


def _request(user, state=RequestState.APPROVED, **fields) -> AccessRequest:
    defaults = {"created": T - 4 * H, "expires": T + H, "requested_duration": 3600}
    return AccessRequest.objects.create(
        user=user, state=state, max_duration=3600, **{**defaults, **fields}
    )


def _grant(request, starts, expires, revoked_at, role="auditor") -> Grant:
    return Grant.objects.create(
        request=request,
        user=request.user,
        role=role,
        starts=starts,
        expires=expires,
        revoked_at=revoked_at,
        created=starts,
    )


@pytest.fixture
def edge_grants(requester) -> dict[int, str]:
    request = _request(requester)
    return {_grant(request, *window).pk: name for name, window in EDGES.items()}


def _sql_ids(fragment: str, params: list) -> set[int]:
    table = connection.ops.quote_name(Grant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g.id FROM {table} g WHERE {fragment}", params)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("at", [T - H, T - S, T, T + S, T + H])
def test_open_at_selects_the_same_grants_in_the_orm_in_sql_and_in_memory(edge_grants, at):
    at_db = connection.ops.adapt_datetimefield_value(at)
    orm = set(Grant.objects.open_at(at).values_list("pk", flat=True))
    sql = _sql_ids(grant_open_sql(), [at_db] * 3)
    memory = {g.pk for g in Grant.objects.all() if g.is_open_at(at)}
    assert orm == sql == memory
    if at == T:
        assert {edge_grants[pk] for pk in orm} == OPEN_AT_T


@pytest.mark.parametrize("at", [T - H, T, T + S])
def test_unended_at_selects_the_same_grants_in_the_orm_and_in_sql(edge_grants, at):
    at_db = connection.ops.adapt_datetimefield_value(at)
    orm = set(Grant.objects.unended_at(at).values_list("pk", flat=True))
    assert orm == _sql_ids(grant_unended_sql(), [at_db] * 2)
    if at == T:
        assert {edge_grants[pk] for pk in orm} == UNENDED_AT_T


@pytest.mark.parametrize("name", sorted(EDGES))
def test_granted_role_permissions_last_exactly_while_the_grant_is_open(requester, name):
    grant = _grant(_request(requester), *EDGES[name])
    perms, _ = _role_permissions(requester.pk, T)
    assert ("requests_app.view_auditevent" in perms) == (name in OPEN_AT_T)
    assert ("requests_app.view_auditevent" in perms) == grant.is_open_at(T)


# The grant continuing `first` (T-1h .. T+1h): (starts, expires, revoked_at, item), and
# whether it takes over at T+1h.
CONTINUATIONS = {
    "starts_at_the_end": ((T + H, T + 3 * H, None, "auditor"), True),
    "overlaps_the_end": ((T, T + 3 * H, None, "auditor"), True),
    "starts_after_the_end": ((T + H + S, T + 3 * H, None, "auditor"), False),
    "ends_at_the_same_time": ((T - H, T + H, None, "auditor"), False),
    "revoked_before_now": ((T + H, T + 3 * H, T - S, "auditor"), False),
    "revoked_at_now": ((T + H, T + 3 * H, T, "auditor"), False),
    "revoked_after_now": ((T + H, T + 3 * H, T + S, "auditor"), True),
    "another_role": ((T + H, T + 3 * H, None, "reviewer"), False),
}


@pytest.mark.parametrize("name", sorted(CONTINUATIONS))
def test_sweeps_and_access_check_agree_on_where_access_continues(requester, name):
    """`continuation_exists` (ORM), its SQL twin (the grant sweep's claim) and the access
    check's chain (SQL) agree."""
    (starts, expires, revoked_at, role), continues = CONTINUATIONS[name]
    first = _grant(_request(requester), T - H, T + H, None)
    _grant(_request(requester), starts, expires, revoked_at, role=role)
    continued = (
        Grant.objects.filter(pk=first.pk)
        .annotate(continued=continuation_exists(T))
        .values_list("continued", flat=True)
        .get()
    )
    twin, params = continuation_exists_sql("g", T)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {twin} FROM {Grant._meta.db_table} g WHERE g.id = %s", [*params, first.pk]
        )
        continued_sql = bool(cursor.fetchone()[0])
    decision = access_check(user=requester, role="auditor", at=T)
    assert continued is continues
    assert continued_sql is continues
    assert decision.allowed
    assert decision.expires == (T + 3 * H if continues else T + H)


# name: (state, pending until, access ends)
REQUESTS = {
    "pending": (RequestState.PENDING, T + S, None),
    "pending_until_t": (RequestState.PENDING, T, None),
    "pending_past_t": (RequestState.PENDING, T - S, None),
    "approved_live": (RequestState.APPROVED, T - H, T + S),
    "approved_ending_at_t": (RequestState.APPROVED, T - H, T),
    "approved_ended": (RequestState.APPROVED, T - H, T - S),
    "denied": (RequestState.DENIED, T + H, T + H),
    "revoked": (RequestState.REVOKED, T - H, T + H),
}


def test_pending_and_live_access_agree_in_the_orm_and_in_memory(requester):
    made = {
        _request(requester, state=state, expires=expires, access_expires=ends).pk: name
        for name, (state, expires, ends) in REQUESTS.items()
    }
    rows = list(AccessRequest.objects.all())
    pending = set(AccessRequest.objects.pending_at(T).values_list("pk", flat=True))
    live = set(AccessRequest.objects.access_live_at(T).values_list("pk", flat=True))
    assert pending == {r.pk for r in rows if r.is_pending_at(T)}
    assert live == {r.pk for r in rows if r.is_access_live_at(T)}
    assert {made[pk] for pk in pending} == {"pending"}
    assert {made[pk] for pk in live} == {"approved_live"}


def test_visibility_chains_with_other_filters(requester, outsider):
    mine = _request(requester, state=RequestState.PENDING, expires=T + H)
    _request(requester, state=RequestState.DENIED)
    assert list(AccessRequest.objects.pending_at(T).visible_to(requester)) == [mine]
    assert list(AccessRequest.objects.filter(state="PENDING").visible_to(requester)) == [mine]
    assert not AccessRequest.objects.pending_at(T).visible_to(outsider).exists()
