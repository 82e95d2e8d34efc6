"""Expiry sweep: end 100k due grants and expire 100k pending requests, against raw UPDATEs.

The benchmark adds its fixture to the seeded history (100k PENDING requests past their
TTL; 25k approved requests whose 100k grants have closed but are not recorded as ended),
then, on exactly the same rows:
1. the floor: one raw SQL UPDATE per table, timed, then the rows are put back (three
   times; the median is the floor);
2. the services, as the workers call them: `grants_end_due` and
   `access_requests_expire_due` until they report nothing left, timed. They also write one
   audit event per row and the notifications, which the floor does not.
The fixture requests and grants are deleted afterwards; the audit events they caused stay
(the chain is append-only).
"""

from __future__ import annotations

import random
import statistics
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from accessportal.kernel.choices import RequestState
from accessportal.kernel.models import AuditEvent
from bench.bulk import analyze, foreign_key_checks_off, load_rows, max_id
from bench.common import Report, chunks, ratio, timed
from bench.seed import (
    GRANT_COLUMNS,
    GROUP_PERM_COLUMNS,
    REQUEST_COLUMNS,
    USER_PREFIX,
    new_uuid,
    permission_ids,
    request_row,
    requester_index,
    resource_name,
    reviewer_indexes,
    team_resource_index,
)
from bench.seed import Shape as SeedShape
from policies_app.models import Resource, Role
from requests_app.models import AccessRequest, Grant, OutboxMessage
from requests_app.models import AccessRequestGroupObjectPermission as GroupPerm
from requests_app.services.grants import grants_end_due
from requests_app.services.resolution import access_requests_expire_due

MARKER = "bench-sweep fixture"
EXPIRED_REASON = "not resolved before it expired"
TARGET_FACTOR = 5.0  # issue 22 (was 10)
FLOOR_RUNS = 3
GRANTS_PER_REQUEST = 4
REQ = AccessRequest._meta.db_table
GRANT = Grant._meta.db_table
GROUP_PERM = GroupPerm._meta.db_table


def _shape_of_seed() -> SeedShape:
    teams = Role.objects.filter(name__startswith="team-").count()
    users = get_user_model().objects.filter(username__startswith=USER_PREFIX).count()
    return SeedShape(
        teams=teams, users=users, resources=Resource.objects.count(), requests=0, grants=0
    )


def _team_groups(shape: SeedShape, user_ids: dict[int, int]) -> dict[int, int]:
    """Each team's reviewer profile group (the seed gives a team's reviewers one profile)."""
    Through = get_user_model().groups.through
    first = {user_ids[reviewer_indexes(t, shape)[0]]: t for t in range(shape.teams)}
    rows = Through.objects.filter(user_id__in=list(first), group__reviewer_profile__isnull=False)
    return {first[uid]: gid for uid, gid in rows.values_list("user_id", "group_id")}


def add_fixture(rows: int, *, seed: int = 8) -> None:
    """`rows` due PENDING requests, each with its team's reviewer profile's view and review
    rows as the services write them (the expiry ends the review rows: part of the cost), and
    `rows` closed, unended grants (4 per request)."""
    shape = _shape_of_seed()
    if not shape.teams:
        raise SystemExit("seed the database first: python -m bench seed")
    rng = random.Random(seed)
    now = timezone.now()
    user_ids = {
        int(name.removeprefix(USER_PREFIX)): pk
        for pk, name in get_user_model()
        .objects.filter(username__startswith=USER_PREFIX)
        .values_list("pk", "username")
    }
    requests, grants, group_perms = [], [], []
    view_perm, review_perm = permission_ids()
    team_groups = _team_groups(shape, user_ids)
    grant_id = max_id(GRANT) + 1
    for n in range(rows):
        team = n % shape.teams
        user = user_ids[requester_index(team, rng.randrange(10**9), shape)]
        created = now - timedelta(days=2, seconds=rng.uniform(0, 3600))
        role = [f"svc-{team}-{1 + n % 7}"]
        rid = new_uuid(rng)
        if team in team_groups:
            group_perms.append((rid, view_perm, team_groups[team]))
            group_perms.append((rid, review_perm, team_groups[team]))
        requests.append(
            request_row(
                rid=rid,
                user_id=user,
                team=team,
                roles=role,
                resources=[],
                state=RequestState.PENDING,
                created=created,
                expires=created + timedelta(days=1),
                reason=MARKER,
            )
        )
    for n in range(max(1, rows // GRANTS_PER_REQUEST)):
        team = n % shape.teams
        user = user_ids[requester_index(team, rng.randrange(10**9), shape)]
        created = now - timedelta(days=2, seconds=rng.uniform(0, 3600))
        start = created + timedelta(minutes=5)
        window = (start, start + timedelta(hours=8))
        rid = new_uuid(rng)
        role = f"svc-{team}-{1 + n % 7}"
        first = rng.randrange(10**9)
        resources = sorted(
            {
                "/".join(resource_name(team_resource_index(team, first + k, shape)))
                for k in range(GRANTS_PER_REQUEST - 1)
            }
        )
        row = request_row(
            rid=rid,
            user_id=user,
            team=team,
            roles=[role],
            resources=resources,
            state=RequestState.APPROVED,
            created=created,
            expires=created + timedelta(days=1),
            access=window,
            resolved=(start, None, "ok"),
            reason=MARKER,
        )
        requests.append(row)
        for item_role, item_resource in [(role, "")] + [("", r) for r in resources]:
            grants.append(
                (
                    grant_id,
                    rid,
                    user,
                    item_role,
                    item_resource,
                    window[0],
                    window[1],
                    None,
                    None,
                    start,
                    start,
                )  # fmt: skip
            )
            grant_id += 1
    with foreign_key_checks_off():
        load_rows(REQ, REQUEST_COLUMNS, requests)
        load_rows(GRANT, GRANT_COLUMNS, grants)
        load_rows(GROUP_PERM, GROUP_PERM_COLUMNS, group_perms)
    analyze([REQ, GRANT, GROUP_PERM])


def remove_fixture() -> None:
    marked = f"SELECT id FROM {REQ} WHERE reason = %s"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {GRANT} WHERE request_id IN ({marked})", (MARKER,))
        cursor.execute(f"DELETE FROM {GROUP_PERM} WHERE content_object_id IN ({marked})", (MARKER,))
        cursor.execute(
            f"DELETE FROM {OutboxMessage._meta.db_table} WHERE request_id IN ({marked})",
            (MARKER,),
        )
        cursor.execute(f"DELETE FROM {REQ} WHERE reason = %s", (MARKER,))
    analyze([REQ, GRANT])


def _tidy() -> None:
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {GRANT}")
            cursor.execute(f"VACUUM ANALYZE {REQ}")
    else:
        analyze([REQ, GRANT])


def _due_ids(now) -> tuple[list, list]:
    grants = list(
        Grant.objects.filter(ended_at=None, expires__lte=now).values_list("pk", flat=True)
    )
    requests = list(
        AccessRequest.objects.filter(state=RequestState.PENDING, expires__lte=now).values_list(
            "pk", flat=True
        )
    )
    return grants, requests


def _fixture_review_rows() -> int:
    return GroupPerm.objects.filter(
        permission__codename="review_accessrequest", content_object__reason=MARKER
    ).count()


def _floor_grants(now) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {GRANT} SET ended_at = %s WHERE ended_at IS NULL AND expires <= %s",
            (now, now),
        )
        return cursor.rowcount


def _floor_requests(now) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {REQ} SET state = %s, resolved_at = %s, resolve_reason = %s, updated = %s "
            f"WHERE state = %s AND expires <= %s",
            (RequestState.EXPIRED, now, EXPIRED_REASON, now, RequestState.PENDING, now),
        )
        return cursor.rowcount


def _put_back(grant_ids: list, request_ids: list) -> None:
    for batch in chunks(grant_ids, 10_000):
        Grant.objects.filter(pk__in=batch).update(ended_at=None)
    for batch in chunks(request_ids, 10_000):
        AccessRequest.objects.filter(pk__in=batch).update(
            state=RequestState.PENDING, resolved_at=None, resolve_reason=""
        )


def _drain(service, now) -> tuple[int, int]:
    """Call a sweep service until it reports nothing left: (rows, calls)."""
    total = calls = 0
    while True:
        done = service(now=now)
        calls += 1
        total += done
        if not done:
            return total, calls


def measure(*, rows: int) -> Report:
    remove_fixture()
    add_fixture(rows)
    try:
        now = timezone.now()
        grant_ids, request_ids = _due_ids(now)
        # The floor three times (rows put back each time), its median kept: one UPDATE of
        # 100k rows varies with the page cache more than the services' many statements do.
        floors_g, floors_r = [], []
        for _ in range(FLOOR_RUNS):
            _tidy()
            seconds, n_floor_g = timed(lambda: _floor_grants(now))
            floors_g.append(seconds)
            seconds, n_floor_r = timed(lambda: _floor_requests(now))
            floors_r.append(seconds)
            _put_back(grant_ids, request_ids)
        floor_g, floor_r = statistics.median(floors_g), statistics.median(floors_r)
        _tidy()
        audit_before = AuditEvent.objects.count()
        outbox_before = OutboxMessage.objects.count()
        review_rows = _fixture_review_rows()
        svc_g, (n_svc_g, calls_g) = timed(lambda: _drain(grants_end_due, now))
        svc_r, (n_svc_r, calls_r) = timed(lambda: _drain(access_requests_expire_due, now))
        audit_written = AuditEvent.objects.count() - audit_before
        outbox_written = OutboxMessage.objects.count() - outbox_before
        review_rows_left = _fixture_review_rows()
    finally:
        remove_fixture()

    report = Report("sweep")
    report.params = {
        "fixture_rows": rows,
        "due_grants": len(grant_ids),
        "due_requests": len(request_ids),
    }
    report.results = {
        "grants": {
            "rows": n_svc_g,
            "floor_rows": n_floor_g,
            "floor_seconds": round(floor_g, 3),
            "floor_seconds_each": [round(x, 3) for x in floors_g],
            "service_seconds": round(svc_g, 3),
            "service_calls": calls_g,
            "ratio": ratio(svc_g, floor_g),
            "rows_per_second": round(n_svc_g / svc_g) if svc_g else 0,
        },
        "requests": {
            "rows": n_svc_r,
            "floor_rows": n_floor_r,
            "floor_seconds": round(floor_r, 3),
            "floor_seconds_each": [round(x, 3) for x in floors_r],
            "service_seconds": round(svc_r, 3),
            "service_calls": calls_r,
            "ratio": ratio(svc_r, floor_r),
            "rows_per_second": round(n_svc_r / svc_r) if svc_r else 0,
        },
        "audit_events_written": audit_written,
        "outbox_messages_written": outbox_written,
        # The expired requests' reviewer review rows, which the expiry ends (the floor does not)
        "review_rows_ended": review_rows - review_rows_left,
        "review_rows_left": review_rows_left,
    }
    both = report.results["grants"], report.results["requests"]
    report.results["target_factor"] = TARGET_FACTOR
    report.results["targets"] = {
        "within_target_of_raw_update": all(r["ratio"] <= TARGET_FACTOR for r in both),
        "one_audit_event_per_row": audit_written == n_svc_g + n_svc_r,
        "review_rows_of_expired_requests_ended": review_rows_left == 0,
    }
    report.header = ["sweep", "rows", "raw UPDATE s", "service s", "ratio", "rows/s"]
    for name, r in zip(("grants_end_due", "access_requests_expire_due"), both, strict=True):
        report.rows.append(
            [
                name,
                r["rows"],
                r["floor_seconds"],
                r["service_seconds"],
                r["ratio"],
                r["rows_per_second"],
            ]  # fmt: skip
        )
    report.notes.append(
        f"audit events written: {audit_written:,} (one per ended grant / expired request); "
        f"notifications: {outbox_written:,}"
    )
    report.notes.append(
        f"target: sweep within {TARGET_FACTOR:g}x of the raw UPDATE -> "
        f"{'met' if report.results['targets']['within_target_of_raw_update'] else 'MISSED'}"
    )
    return report


def run(args) -> Report:
    return measure(rows=1000 if args.quick else args.rows)
