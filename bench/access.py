"""Access check latency at 10k, 100k and 1M grants, against its floors, in the same run.

For each size of the grant table: p50/p99 of `selectors.access.access_check` (a role and a
resource), of one indexed primary-key select through the ORM (the floor of any domain
call), of `GET /api/v1/access/check/` served by gunicorn, and of the bare DRF view with the
same authentication on the same server (the floor of any API call); calls alternate, so a
change in machine load hits all of them alike. Query counts per call are recorded too.

The sizes are made from the seeded table: the newest N grants stay, the older ones are
parked in a side table and put back afterwards (also after a crash: the next run restores
them first). The checked users and items are among the newest grants, so the same checks
run at every size.
"""

from __future__ import annotations

import random
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client as DjangoClient
from rest_framework.authtoken.models import Token

from bench.common import Report, count_queries, interleaved, ratio, summary_ms
from bench.seed import INTEGRATION, SERVICE_ROLES
from bench.server import Client, gunicorn, gunicorn_available
from requests_app.models import Grant
from requests_app.selectors.access import access_check

SIZES = (10_000, 100_000, 1_000_000)
PARKED = "bench_parked_grants"
GRANTS = Grant._meta.db_table
FLOOR_FACTOR = 3.0  # target: access check within 3x of the primary-key select
FLAT_FACTOR = 1.5  # "flat": the largest size within 1.5x of the smallest (noise included)


def grant_sizes(total: int) -> list[int]:
    """10k, 100k, 1M where the table has them; for a small (test) seed, 1%, 10%, 100%."""
    sizes = [s for s in SIZES if s <= total]
    if len(sizes) == len(SIZES):
        return sizes
    return sorted({max(1, total // 100), max(1, total // 10), total})


def _execute(sql: str, params: tuple = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _scalar(sql: str, params: tuple = ()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        return row[0] if row else None


def _table_exists(name: str) -> bool:
    return name in connection.introspection.table_names()


class GrantParking:
    """Shrink the grant table to its newest N rows and grow it back, keeping every row."""

    def __init__(self) -> None:
        if _table_exists(PARKED):
            self.restore()
        _execute(f"CREATE TABLE {PARKED} AS SELECT * FROM {GRANTS} WHERE 1 = 0")

    def _cutoff(self, table: str, keep: int) -> int | None:
        return _scalar(f"SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET %s", (keep - 1,))

    def size(self) -> int:
        return _scalar(f"SELECT COUNT(*) FROM {GRANTS}")

    def shrink_to(self, keep: int) -> None:
        cut = self._cutoff(GRANTS, keep)
        if cut is None:
            return
        _execute(f"INSERT INTO {PARKED} SELECT * FROM {GRANTS} WHERE id < %s", (cut,))
        _execute(f"DELETE FROM {GRANTS} WHERE id < %s", (cut,))
        self.tidy()

    def grow_to(self, size: int) -> None:
        more = size - self.size()
        if more <= 0:
            return
        cut = self._cutoff(PARKED, more)
        if cut is None:
            cut = _scalar(f"SELECT MIN(id) FROM {PARKED}")
        _execute(f"INSERT INTO {GRANTS} SELECT * FROM {PARKED} WHERE id >= %s", (cut,))
        _execute(f"DELETE FROM {PARKED} WHERE id >= %s", (cut,))
        self.tidy()

    def restore(self) -> None:
        _execute(f"INSERT INTO {GRANTS} SELECT * FROM {PARKED}")
        _execute(f"DROP TABLE {PARKED}")
        self.tidy()

    def tidy(self) -> None:
        """Indexes and statistics as a table of this size would have them."""
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            _execute(f"VACUUM ANALYZE {GRANTS}")
            _execute(f"REINDEX TABLE {GRANTS}")
        else:
            _execute(f"ANALYZE {GRANTS}")


def _samples(newest: int, n: int, rng: random.Random) -> dict[str, list]:
    """Checks to run: half granted items (found by the grant query), half never granted."""
    cut = _scalar(f"SELECT id FROM {GRANTS} ORDER BY id DESC LIMIT 1 OFFSET %s", (newest - 1,))
    kept = Grant.objects.filter(id__gte=cut or 0)
    roles = list(kept.exclude(role="").values_list("user_id", "role")[: n * 4])
    resources = list(kept.exclude(resource="").values_list("user_id", "resource")[: n * 4])
    rng.shuffle(roles)
    rng.shuffle(resources)
    roles, resources = roles[: n // 2 or 1], resources[: n // 2 or 1]
    denied_roles = [
        (uid, f"{role.rsplit('-', 1)[0]}-{(int(role.rsplit('-', 1)[1]) % (SERVICE_ROLES - 1)) + 1}")
        for uid, role in roles
    ]
    other = [res for _, res in resources[1:]] + [res for _, res in resources[:1]]
    denied_resources = [(uid, res) for (uid, _), res in zip(resources, other, strict=True)]
    role_checks = roles + denied_roles
    resource_checks = resources + denied_resources
    rng.shuffle(role_checks)
    rng.shuffle(resource_checks)
    pks = list(kept.values_list("pk", flat=True)[: n * 4])
    rng.shuffle(pks)
    return {"role": role_checks, "resource": resource_checks, "pk": pks[: max(1, n)]}


def _domain(samples: dict, users: dict, iterations: int) -> tuple[dict, dict]:
    roles, resources, pks = samples["role"], samples["resource"], samples["pk"]

    def floor(i: int) -> None:
        Grant.objects.filter(pk=pks[i % len(pks)]).first()

    def role(i: int) -> None:
        uid, name = roles[i % len(roles)]
        access_check(user=users[uid], role=name)

    def resource(i: int) -> None:
        uid, rid = resources[i % len(resources)]
        access_check(user=users[uid], resource=rid)

    calls = {"pk_floor": floor, "role_check": role, "resource_check": resource}
    timings = interleaved(calls, iterations, warmup=min(50, iterations))
    queries = {
        name: max(count_queries(lambda fn=fn, i=i: fn(i)) for i in range(min(10, iterations)))
        for name, fn in calls.items()
    }
    return {name: summary_ms(t) for name, t in timings.items()}, queries


def _paths(samples: dict, users: dict) -> tuple[list[str], list[str]]:
    def path(uid: int, key: str, value: str) -> str:
        query = urlencode({"user": users[uid].get_username(), key: value})
        return f"/api/v1/access/check/?{query}"

    return (
        [path(uid, "role", name) for uid, name in samples["role"]],
        [path(uid, "resource", rid) for uid, rid in samples["resource"]],
    )


def _http_queries(token: str, role_paths: list[str], resource_paths: list[str]) -> dict:
    """Queries per HTTP call, counted in-process through the whole Django stack."""
    client = DjangoClient(HTTP_AUTHORIZATION=f"Token {token}")
    out = {}
    for name, paths in (
        ("bare", ["/api/v1/bench/bare/"]),
        ("check_role", role_paths[:10]),
        ("check_resource", resource_paths[:10]),
    ):
        counts = []
        for p in paths:
            counts.append(count_queries(lambda p=p: _expect_ok(client.get(p))))
        out[name] = max(counts)
    return out


def _expect_ok(response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.content[:200]!r}")


def _http(server, token, role_paths, resource_paths, iterations: int) -> dict:
    client = Client(*server, token)

    def call(path: str) -> None:
        status, body = client.get(path)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:200]!r}")

    calls = {
        "bare": lambda i: call("/api/v1/bench/bare/"),
        "check_role": lambda i: call(role_paths[i % len(role_paths)]),
        "check_resource": lambda i: call(resource_paths[i % len(resource_paths)]),
    }
    try:
        timings = interleaved(calls, iterations, warmup=min(50, iterations))
    finally:
        client.close()
    return {name: summary_ms(t) for name, t in timings.items()}


def measure(*, iterations: int, http_iterations: int, http: bool = True) -> Report:
    rng = random.Random(8)
    User = get_user_model()
    integration = User.objects.get(username=INTEGRATION)
    token = Token.objects.get_or_create(user=integration)[0].key
    parking = GrantParking()
    total = parking.size()
    sizes = grant_sizes(total)
    samples = _samples(sizes[0], 200, rng)
    uids = {uid for uid, _ in samples["role"] + samples["resource"]}
    users = {u.pk: u for u in User.objects.filter(pk__in=uids)}
    role_paths, resource_paths = _paths(samples, users)
    http = http and gunicorn_available() and connection.vendor == "postgresql"

    report = Report("access")
    report.params = {
        "grant_sizes": sizes,
        "iterations": iterations,
        "http_iterations": http_iterations if http else 0,
        "checks": {"role": len(samples["role"]), "resource": len(samples["resource"])},
        "caller": f"{INTEGRATION} (holds requests_app.check_access) checking other users",
    }
    by_size: dict[str, dict] = {}
    try:
        server_cm = gunicorn() if http else None
        server = server_cm.__enter__() if server_cm else None
        try:
            for size in sizes:
                if parking.size() > size:
                    parking.shrink_to(size)
                else:
                    parking.grow_to(size)
                domain, queries = _domain(samples, users, iterations)
                entry = {"grants": parking.size(), "domain": domain, "queries": queries}
                entry["ratios"] = {
                    "role_check_p50_vs_pk": ratio(
                        domain["role_check"]["p50_ms"], domain["pk_floor"]["p50_ms"]
                    ),
                    "resource_check_p50_vs_pk": ratio(
                        domain["resource_check"]["p50_ms"], domain["pk_floor"]["p50_ms"]
                    ),
                }
                if http:
                    entry["http"] = _http(
                        server, token, role_paths, resource_paths, http_iterations
                    )
                    entry["http_queries"] = _http_queries(token, role_paths, resource_paths)
                    for name in ("check_role", "check_resource"):
                        entry["ratios"][f"http_{name}_p50_vs_bare"] = ratio(
                            entry["http"][name]["p50_ms"], entry["http"]["bare"]["p50_ms"]
                        )
                by_size[str(size)] = entry
        finally:
            if server_cm:
                server_cm.__exit__(None, None, None)
    finally:
        parking.restore()

    report.results = {"sizes": by_size, "targets": _targets(by_size)}
    report.header = ["grants", "call", "p50 ms", "p99 ms", "queries", "p50 ratio vs floor"]
    for size, entry in by_size.items():
        d, q = entry["domain"], entry["queries"]
        floor = d["pk_floor"]["p50_ms"]
        for name in ("pk_floor", "role_check", "resource_check"):
            row = [int(size), f"domain {name}", d[name]["p50_ms"], d[name]["p99_ms"], q[name]]
            report.rows.append(row + [ratio(d[name]["p50_ms"], floor)])
        if "http" in entry:
            h, hq = entry["http"], entry["http_queries"]
            bare = h["bare"]["p50_ms"]
            for name in ("bare", "check_role", "check_resource"):
                row = [int(size), f"http {name}", h[name]["p50_ms"], h[name]["p99_ms"], hq[name]]
                report.rows.append(row + [ratio(h[name]["p50_ms"], bare)])
    for line in _target_lines(report.results["targets"]):
        report.notes.append(line)
    return report


def _targets(by_size: dict) -> dict:
    sizes = list(by_size)
    first, last = by_size[sizes[0]], by_size[sizes[-1]]
    worst = max(e["ratios"]["role_check_p50_vs_pk"] for e in by_size.values())
    worst_res = max(e["ratios"]["resource_check_p50_vs_pk"] for e in by_size.values())
    out = {
        "role_check_worst_p50_vs_pk": worst,
        "resource_check_worst_p50_vs_pk": worst_res,
        "within_3x_of_pk": worst <= FLOOR_FACTOR and worst_res <= FLOOR_FACTOR,
        "role_check_p50_largest_vs_smallest": ratio(
            last["domain"]["role_check"]["p50_ms"], first["domain"]["role_check"]["p50_ms"]
        ),
        "resource_check_p50_largest_vs_smallest": ratio(
            last["domain"]["resource_check"]["p50_ms"], first["domain"]["resource_check"]["p50_ms"]
        ),
        "queries_constant": len({json_key(e["queries"]) for e in by_size.values()}) == 1,
    }
    out["flat"] = (
        out["role_check_p50_largest_vs_smallest"] <= FLAT_FACTOR
        and out["resource_check_p50_largest_vs_smallest"] <= FLAT_FACTOR
    )
    if "http" in last:
        out["http_check_role_p50_largest_vs_smallest"] = ratio(
            last["http"]["check_role"]["p50_ms"], first["http"]["check_role"]["p50_ms"]
        )
        out["http_queries_constant"] = (
            len({json_key(e["http_queries"]) for e in by_size.values()}) == 1
        )
    return out


def json_key(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(d.items()))


def _target_lines(t: dict) -> list[str]:
    lines = [
        f"target: access check within {FLOOR_FACTOR:g}x of the PK select: worst p50 ratio "
        f"role {t['role_check_worst_p50_vs_pk']}, resource {t['resource_check_worst_p50_vs_pk']}"
        f" -> {'met' if t['within_3x_of_pk'] else 'MISSED'}",
        f"target: flat from smallest to largest table (p50 largest/smallest <= {FLAT_FACTOR}): "
        f"role {t['role_check_p50_largest_vs_smallest']}, resource "
        f"{t['resource_check_p50_largest_vs_smallest']} -> {'met' if t['flat'] else 'MISSED'}",
        f"query counts constant across sizes: {t['queries_constant']}",
    ]
    return lines


def run(args) -> Report:
    if args.quick:
        return measure(iterations=30, http_iterations=30)
    return measure(iterations=2000, http_iterations=800)
