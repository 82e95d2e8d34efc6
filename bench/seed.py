"""Seed a database with the history of a large company, with bulk loads (COPY).

At `--scale 1`: 50k users, 2k roles with policies (200 teams of 10 roles), 200k resources,
500k requests with their reviews, 1M grants (all but ~1% long expired and ended), and the
guardian rows of the request projection. Requests are spread over teams with a Zipf law,
so reviewers of team 0 have ~100x the history of reviewers of the last team, while every
team has the same number of PENDING requests: what `needs_review` must be flat in.

Rows are consistent with the policies, as the services would have written them: the same
snapshot shape, the reviewers the policies make eligible, grants for approved requests.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.utils import timezone

from accessportal.kernel.choices import RequestState, ReviewState
from bench.bulk import (
    analyze,
    foreign_key_checks_off,
    is_postgres,
    load_rows,
    max_id,
    reset_sequences,
)
from bench.common import Report, timed
from policies_app.documents import normalize_role
from policies_app.models import Resource, ReviewerProfile, Role
from policies_app.services.profiles import reviewer_profiles_sync
from requests_app.models import (
    AccessRequest,
    AccessRequestGroupObjectPermission,
    AccessRequestUserObjectPermission,
    AuditChainHead,
    AuditEvent,
    Grant,
    OutboxMessage,
    Review,
)

ROLES_PER_TEAM = 10  # team-T, rev-T and svc-T-0 .. svc-T-7
SERVICE_ROLES = 8
REVIEWERS_PER_TEAM = 3
PENDING_PER_TEAM = 20
ENVS = ("prod", "staging", "dev")
KINDS = ("node", "db", "kube_namespace")
HISTORY_DAYS = 730
ACCESS_SECONDS = 8 * 3600
INTEGRATION = "bench-integration"
USER_PREFIX = "bench-u"
CHUNK = 20_000

THRESHOLD = {"name": "default", "filter": "", "approve": 1, "deny": 1}


@dataclass(frozen=True)
class Shape:
    """How many of each; `Shape.at(1)` is the company of the issue."""

    teams: int
    users: int
    resources: int
    requests: int
    grants: int
    pending_per_team: int = PENDING_PER_TEAM

    @classmethod
    def at(cls, scale: float) -> Shape:
        teams = max(2, round(200 * scale))
        pending = min(PENDING_PER_TEAM, max(2, round(PENDING_PER_TEAM * scale * 50)))
        return cls(
            teams=teams,
            users=max(teams * 8, round(50_000 * scale)),
            resources=max(teams * len(KINDS) * 2, round(200_000 * scale)),
            requests=max(teams * pending * 3, round(500_000 * scale)),
            grants=max(teams * 4, round(1_000_000 * scale)),
            pending_per_team=pending,
        )

    @property
    def roles(self) -> int:
        return self.teams * ROLES_PER_TEAM + 1  # + the integration role


# -- names shared with the benchmarks ---------------------------------------------------


def username(i: int) -> str:
    return f"{USER_PREFIX}{i:06d}"


def team_of_user(i: int, shape: Shape) -> int:
    return i % shape.teams


def reviewer_indexes(team: int, shape: Shape) -> list[int]:
    """User indexes of a team's reviewers (they hold rev-T besides team-T)."""
    return [team + shape.teams * k for k in range(REVIEWERS_PER_TEAM)]


def requester_index(team: int, k: int, shape: Shape) -> int:
    """The k-th ordinary member of a team (not a reviewer)."""
    members = (shape.users - team - 1) // shape.teams + 1
    return team + shape.teams * (REVIEWERS_PER_TEAM + k % (members - REVIEWERS_PER_TEAM))


def resource_name(i: int) -> tuple[str, str]:
    kind = KINDS[i % len(KINDS)]
    return kind, f"{kind.replace('_', '-')}-{i:06d}"


def team_resource_index(team: int, k: int, shape: Shape) -> int:
    per_team = shape.resources // shape.teams
    return team + shape.teams * (k % per_team)


def resource_labels(i: int, shape: Shape) -> dict[str, str]:
    return {"team": f"t{i % shape.teams}", "env": ENVS[(i // shape.teams) % len(ENVS)]}


def role_documents(shape: Shape) -> list[dict]:
    """The normalized role documents: per team, a member role, a reviewer role, 8 services."""
    raw: list[dict] = []
    for t in range(shape.teams):
        raw.append(
            {
                "name": f"team-{t}",
                "spec": {
                    "allow": {
                        "request": {
                            "roles": [f"svc-{t}-*"],
                            "search_as_roles": [f"svc-{t}-0"],
                            "thresholds": [dict(THRESHOLD)],
                            "max_duration": "8h",
                        }
                    }
                },
            }
        )
        raw.append(
            {"name": f"rev-{t}", "spec": {"allow": {"review_requests": {"roles": [f"svc-{t}-*"]}}}}
        )
        for k in range(SERVICE_ROLES):
            reach = (
                {"kinds": list(KINDS), "labels": {"team": [f"t{t}"]}}
                if k == 0
                else {"kinds": ["node"], "labels": {"team": [f"t{t}"], "env": [ENVS[k % 3]]}}
            )
            raw.append({"name": f"svc-{t}-{k}", "spec": {"allow": {"resources": reach}}})
    raw.append(
        {"name": "integration", "spec": {"allow": {"permissions": ["requests_app.check_access"]}}}
    )
    docs = []
    for doc in raw:
        normalized, problems = normalize_role({"kind": "role", **doc})
        if problems:
            raise ValueError(f"bench role {doc['name']}: {problems}")
        docs.append(normalized)
    return docs


def policy_snapshot(team: int, roles: list[str], resources: list[str]) -> dict:
    """What `access_request_create` snapshots for a team member asking for these items."""
    items = [f"role:{r}" for r in roles] + [f"resource:{r}" for r in resources]
    return {
        "thresholds": [dict(THRESHOLD)],
        "sets": {item: [[0]] for item in items},
        "review_roles": {
            **{f"role:{r}": [r] for r in roles},
            **{f"resource:{r}": [f"svc-{team}-0"] for r in resources},
        },
        "reason_required": False,
        "reason_prompt": "",
    }


REQUEST_COLUMNS = (
    "id",
    "user_id",
    "roles",
    "resources",
    "state",
    "reason",
    "created",
    "updated",
    "expires",
    "requested_duration",
    "max_duration",
    "assume_start_time",
    "access_starts",
    "access_expires",
    "suggested_reviewers",
    "annotations",
    "policy",
    "resolved_at",
    "resolved_by_id",
    "resolve_reason",
    "resolved_by_override",
    "revoked_at",
    "revoked_by_id",
    "revoke_reason",
)
GRANT_COLUMNS = (
    "id",
    "request_id",
    "user_id",
    "role",
    "resource",
    "starts",
    "expires",
    "revoked_at",
    "ended_at",
    "created",
    "activated_at",
)
REVIEW_COLUMNS = (
    "id",
    "request_id",
    "reviewer_id",
    "state",
    "reason",
    "assume_start_time",
    "threshold_indexes",
    "created",
)
PERM_COLUMNS = ("content_object_id", "permission_id", "user_id")
GROUP_PERM_COLUMNS = ("content_object_id", "permission_id", "group_id")


def request_row(
    *,
    rid: uuid.UUID,
    user_id: int,
    team: int,
    roles: list[str],
    resources: list[str],
    state: str,
    created: datetime,
    expires: datetime,
    access: tuple[datetime, datetime] | None = None,
    resolved: tuple[datetime, int | None, str] | None = None,
    revoked: tuple[datetime, int] | None = None,
    reason: str = "TICKET-1234 routine maintenance",
) -> tuple:
    resolved_at, resolved_by, resolve_reason = resolved or (None, None, "")
    revoked_at, revoked_by = revoked or (None, None)
    return (
        rid,
        user_id,
        json.dumps(roles),
        json.dumps(resources),
        state,
        reason,
        created,
        resolved_at or created,
        expires,
        ACCESS_SECONDS,
        ACCESS_SECONDS,
        None,
        access[0] if access else None,
        access[1] if access else None,
        "[]",
        "{}",
        json.dumps(policy_snapshot(team, roles, resources)),
        resolved_at,
        resolved_by,
        resolve_reason,
        False,
        revoked_at,
        revoked_by,
        "access no longer needed" if revoked else "",
    )


def new_uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def permission_ids() -> tuple[int, int]:
    perms = dict(
        Permission.objects.filter(
            content_type__app_label="requests_app",
            codename__in=["view_accessrequest", "review_accessrequest"],
        ).values_list("codename", "pk")
    )
    return perms["view_accessrequest"], perms["review_accessrequest"]


@dataclass
class Ids:
    """Where the seeded ids start (the seeder appends; it never renumbers what is there)."""

    user: int
    role: int
    resource: int
    grant: int
    review: int


# -- the seeder ---------------------------------------------------------------------------

DATA_MODELS = (
    AccessRequestUserObjectPermission,
    AccessRequestGroupObjectPermission,
    ReviewerProfile,
    OutboxMessage,
    AuditEvent,
    Review,
    Grant,
    AccessRequest,
    Resource,
)


def reset_data() -> None:
    """Remove every request, grant, review, audit event, resource, role and user."""
    User = get_user_model()
    tables = [m._meta.db_table for m in DATA_MODELS] + [AuditChainHead._meta.db_table]
    tables += [
        Role.members.through._meta.db_table,
        Role._meta.db_table,
        "policies_app_usertraits",
        "authtoken_token",
        "guardian_userobjectpermission",
        "django_admin_log",
        User.groups.through._meta.db_table,
        Group._meta.db_table,
        User.user_permissions.through._meta.db_table,
        User._meta.db_table,
    ]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if is_postgres():
            # The audit tables refuse TRUNCATE except to a superuser (migration 0008): the
            # benchmark connects as one (the local `postgres`), as a DBA reset would.
            cursor.execute(f"TRUNCATE {', '.join(qn(t) for t in tables)} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {qn(table)}")
    # A new, empty chain (the head only moves forward, so it is created afresh).
    AuditChainHead.objects.create(pk=1, seq=0, hash="0" * 64)


def _users(shape: Shape, ids: Ids, now: datetime) -> Iterator[tuple]:
    for i in range(shape.users):
        yield (ids.user + i, "!bench", False, username(i), "", "", f"{username(i)}@example.com",
               False, True, now)  # fmt: skip
    yield (ids.user + shape.users, "!bench", False, INTEGRATION, "", "", "", False, True, now)


def _roles(docs: list[dict], ids: Ids, now: datetime) -> Iterator[tuple]:
    for n, doc in enumerate(docs):
        yield (ids.role + n, doc["name"], doc["description"], json.dumps(doc["spec"]), now, now)


def _memberships(shape: Shape, ids: Ids) -> Iterator[tuple]:
    # role ids: team t -> team-T at 10t, rev-T at 10t+1, svc at 10t+2.. ; integration last
    policy = json.dumps(["policy"])  # as `apply_policies` writes them
    for i in range(shape.users):
        t = team_of_user(i, shape)
        yield (ids.role + ROLES_PER_TEAM * t, ids.user + i, policy)
        if i in reviewer_indexes(t, shape):
            yield (ids.role + ROLES_PER_TEAM * t + 1, ids.user + i, policy)
    yield (ids.role + ROLES_PER_TEAM * shape.teams, ids.user + shape.users, policy)


def _resources(shape: Shape, ids: Ids, now: datetime) -> Iterator[tuple]:
    for i in range(shape.resources):
        kind, name = resource_name(i)
        yield (ids.resource + i, kind, name, json.dumps(resource_labels(i, shape)), "", now, now)


def _history_plan(shape: Shape, rng: random.Random, now: datetime) -> list[tuple]:
    """(created, team, state) of every non-pending request, oldest first."""
    weights = [1 / (t + 1) for t in range(shape.teams)]
    total = sum(weights)
    resolved = shape.requests - shape.teams * shape.pending_per_team
    counts = [int(resolved * w / total) for w in weights]
    counts[0] += resolved - sum(counts)
    plan = []
    for t, n in enumerate(counts):
        for _ in range(n):
            r = rng.random()
            if r < 0.01:  # recent and approved: the grants active now
                created = now - timedelta(seconds=rng.uniform(600, ACCESS_SECONDS - 600))
                state = RequestState.APPROVED
            else:
                created = now - timedelta(days=rng.uniform(1, HISTORY_DAYS))
                state = (
                    RequestState.APPROVED
                    if r < 0.57
                    else RequestState.REVOKED
                    if r < 0.60
                    else RequestState.DENIED
                    if r < 0.75
                    else RequestState.EXPIRED
                    if r < 0.90
                    else RequestState.WITHDRAWN
                )
            plan.append((created, t, state))
    plan.sort(key=lambda p: p[0])
    return plan


def seed(*, scale: float = 1.0, reset: bool = False, seed_value: int = 8, echo=print) -> Report:
    """Load the company at `scale` into the current database; returns the report."""
    shape = Shape.at(scale)
    rng = random.Random(seed_value)
    now = timezone.now().replace(microsecond=0)
    view_perm, review_perm = permission_ids()
    timings: dict[str, float] = {}
    counts: dict[str, int] = {}

    def step(name: str, fn) -> None:
        seconds, n = timed(fn)
        timings[name] = round(seconds, 2)
        counts[name] = n
        echo(f"  {name}: {n:,} rows in {seconds:.1f}s")

    started = datetime.now()
    with transaction.atomic(), foreign_key_checks_off():
        if reset:
            step("reset", lambda: reset_data() or 0)
        User = get_user_model()
        if User.objects.filter(username=INTEGRATION).exists():
            raise SystemExit("this database is already seeded; add --reset to start again")
        ids = Ids(
            user=max_id(User._meta.db_table) + 1,
            role=max_id(Role._meta.db_table) + 1,
            resource=max_id(Resource._meta.db_table) + 1,
            grant=max_id(Grant._meta.db_table) + 1,
            review=max_id(Review._meta.db_table) + 1,
        )
        docs = role_documents(shape)
        user_cols = ("id", "password", "is_superuser", "username", "first_name", "last_name",
                     "email", "is_staff", "is_active", "date_joined")  # fmt: skip
        step("users", lambda: load_rows(User._meta.db_table, user_cols, _users(shape, ids, now)))
        step(
            "roles",
            lambda: load_rows(
                Role._meta.db_table,
                ("id", "name", "description", "spec", "created", "updated"),
                _roles(docs, ids, now),
            ),
        )
        step(
            "role_members",
            lambda: load_rows(
                Role.members.through._meta.db_table,
                ("role_id", "user_id", "sources"),
                _memberships(shape, ids),
            ),
        )
        step(
            "resources",
            lambda: load_rows(
                Resource._meta.db_table,
                ("id", "kind", "name", "labels", "description", "created", "updated"),
                _resources(shape, ids, now),
            ),
        )
        # Reviewers of a team share their roles: one reviewer profile (auth group) per team,
        # made by the service itself, as a policy apply would.
        step("reviewer_profiles", lambda: len(reviewer_profiles_sync().created))
        history = _history_plan(shape, rng, now)
        approved = sum(
            1 for _, _, s in history if s in (RequestState.APPROVED, RequestState.REVOKED)
        )
        writer = _RequestWriter(shape, ids, rng, now, (view_perm, review_perm), approved)
        writer.team_groups = _team_groups(shape, ids)
        seconds, _ = timed(lambda: writer.write(history))
        for name, n in writer.counts.items():
            counts[name] = n
            echo(f"  {name}: {n:,} rows")
        timings["requests+reviews+grants+permissions"] = round(seconds, 2)
        echo(f"  requests, reviews, grants, permission rows in {seconds:.1f}s")

        def _finish():
            reset_sequences([User, Role, Role.members.through, Resource, Grant, Review,
                             AccessRequestUserObjectPermission,
                             AccessRequestGroupObjectPermission])  # fmt: skip
            return 0

        step("sequences", _finish)
    tables = [m._meta.db_table for m in (*DATA_MODELS, Role, Role.members.through, User)]
    step("analyze", lambda: analyze(tables) or 0)
    total_seconds = (datetime.now() - started).total_seconds()

    report = Report("seed")
    report.params = {"scale": scale, "shape": asdict(shape), "roles": shape.roles}
    report.results = {
        "rows": counts,
        "seconds": timings,
        "total_seconds": round(total_seconds, 1),
        "rows_per_second": round(sum(counts.values()) / total_seconds) if total_seconds else 0,
    }
    report.header = ["table", "rows", "seconds"]
    report.rows = [[name, n, timings.get(name, "")] for name, n in counts.items()]
    report.rows.append(["total", sum(counts.values()), round(total_seconds, 1)])
    report.notes.append(
        f"{shape.teams} teams; requests per team follow a Zipf law; "
        f"{shape.pending_per_team} pending requests per team"
    )
    return report


def _team_groups(shape: Shape, ids: Ids) -> dict[int, int]:
    """Each team's reviewer profile group (its reviewers all hold the same roles)."""
    Through = get_user_model().groups.through
    first = {ids.user + reviewer_indexes(t, shape)[0]: t for t in range(shape.teams)}
    rows = Through.objects.filter(user_id__in=list(first), group__reviewer_profile__isnull=False)
    return {first[uid]: gid for uid, gid in rows.values_list("user_id", "group_id")}


class _RequestWriter:
    """Writes requests with their reviews, grants and guardian rows, a chunk at a time."""

    def __init__(self, shape, ids, rng, now, perms, approved_total) -> None:
        self.shape, self.ids, self.rng, self.now = shape, ids, rng, now
        self.view_perm, self.review_perm = perms
        self.grant_id, self.review_id = ids.grant, ids.review
        # Spread the grants over the approved requests: each asks for one role and the rest
        # in resources.
        self.per_request, self.extra = divmod(shape.grants, max(1, approved_total))
        self.approved_seen = 0
        self.counts = {"requests": 0, "reviews": 0, "grants": 0, "permissions": 0}
        self.requests: list[tuple] = []
        self.reviews: list[tuple] = []
        self.grants: list[tuple] = []
        self.perms: list[tuple] = []
        self.group_perms: list[tuple] = []
        self.team_groups: dict[int, int] = {}

    def _items(self, team: int, n: int) -> tuple[list[str], list[str]]:
        rng, shape = self.rng, self.shape
        role = f"svc-{team}-{rng.randrange(1, SERVICE_ROLES)}"
        start = rng.randrange(10**9)
        picks = sorted({team_resource_index(team, start + k, shape) for k in range(n - 1)})
        resources = ["/".join(resource_name(i)) for i in picks]
        return [role], resources

    def _add(self, created: datetime, team: int, state: str) -> None:
        rng, shape, ids, now = self.rng, self.shape, self.ids, self.now
        user = ids.user + requester_index(team, rng.randrange(10**9), shape)
        reviewers = [ids.user + i for i in reviewer_indexes(team, shape)]
        reviewer = rng.choice(reviewers)
        rid = new_uuid(rng)
        if state in (RequestState.APPROVED, RequestState.REVOKED):
            n = self.per_request + (1 if self.approved_seen < self.extra else 0)
            self.approved_seen += 1
        else:
            n = rng.randint(1, 3)
        roles, resources = self._items(team, max(1, n))
        access = resolved = revoked = None
        decided = created + timedelta(minutes=rng.uniform(1, 30))
        expires = created + timedelta(days=1)
        if state == RequestState.PENDING:
            pass
        elif state in (RequestState.APPROVED, RequestState.REVOKED, RequestState.DENIED):
            resolved = (decided, reviewer, "ok" if state != RequestState.DENIED else "no")
            verdict = ReviewState.DENIED if state == RequestState.DENIED else ReviewState.APPROVED
            self.reviews.append(
                (self.review_id, rid, reviewer, verdict, resolved[2], None, "[0]", decided)
            )
            self.review_id += 1
        elif state == RequestState.EXPIRED:
            resolved = (expires, None, "not resolved before it expired")
        else:
            resolved = (decided, user, "")
        if state in (RequestState.APPROVED, RequestState.REVOKED):
            access = (decided, decided + timedelta(seconds=ACCESS_SECONDS))
            if state == RequestState.REVOKED:
                revoked = (decided + timedelta(hours=1), user)
            ended = revoked[0] if revoked else (access[1] if access[1] <= now else None)
            for role in roles:
                self._grant(rid, user, role, "", access, revoked, ended, decided)
            for res in resources:
                self._grant(rid, user, "", res, access, revoked, ended, decided)
        self.requests.append(
            request_row(
                rid=rid,
                user_id=user,
                team=team,
                roles=roles,
                resources=resources,
                state=state,
                created=created,
                expires=expires,
                access=access,
                resolved=resolved,
                revoked=revoked,
            )
        )
        # As the services write them: the requester's view row, the team's reviewer profile
        # group (view; review while the request is PENDING), and a view row for whoever
        # reviewed.
        self.perms.append((rid, self.view_perm, user))
        if resolved and resolved[1] is not None and resolved[1] != user:
            self.perms.append((rid, self.view_perm, resolved[1]))
        group = self.team_groups[team]
        self.group_perms.append((rid, self.view_perm, group))
        if state == RequestState.PENDING:
            self.group_perms.append((rid, self.review_perm, group))

    def _grant(self, rid, user, role, resource, access, revoked, ended, created) -> None:
        self.grants.append(
            (
                self.grant_id,
                rid,
                user,
                role,
                resource,
                access[0],
                access[1],
                revoked[0] if revoked else None,
                ended,
                created,
                access[0],  # activated at approval: the access started at once
            )  # fmt: skip
        )
        self.grant_id += 1

    def _flush(self) -> None:
        self.counts["requests"] += load_rows(
            AccessRequest._meta.db_table, REQUEST_COLUMNS, self.requests
        )
        self.counts["reviews"] += load_rows(Review._meta.db_table, REVIEW_COLUMNS, self.reviews)
        self.counts["grants"] += load_rows(Grant._meta.db_table, GRANT_COLUMNS, self.grants)
        self.counts["permissions"] += load_rows(
            AccessRequestUserObjectPermission._meta.db_table, PERM_COLUMNS, self.perms
        )
        self.counts["permissions"] += load_rows(
            AccessRequestGroupObjectPermission._meta.db_table, GROUP_PERM_COLUMNS, self.group_perms
        )
        self.requests, self.reviews, self.grants, self.perms = [], [], [], []
        self.group_perms = []

    def write(self, history: list[tuple]) -> None:
        for created, team, state in history:
            self._add(created, team, state)
            if len(self.requests) >= CHUNK:
                self._flush()
        for team in range(self.shape.teams):
            for _ in range(self.shape.pending_per_team):
                created = self.now - timedelta(hours=self.rng.uniform(0.1, 12))
                self._add(created, team, RequestState.PENDING)
        self._flush()


def run(args) -> Report:
    return seed(scale=args.scale, reset=args.reset)
