"""`needs_review` must be flat in the size of history.

The seed spreads requests over teams with a Zipf law but gives every team the same number
of PENDING requests, so the first reviewer of team 0 has ~10x the history of the one of
team 9 and ~100x that of team 99, with the same queue. For each of them, alternating:
`requests_needing_review(user)` evaluated as the API pages it, and the whole API call
`GET /api/v1/requests/?scope=needs_review` through the Django stack (in-process), with
query counts. Flat means the same latency and the same queries for every reviewer.

Then the same for the reviewer with the longest history and the same queue, with 200 and
with 20,000 PENDING requests added elsewhere (other teams' requests, with their profiles'
view and review rows, as the services write them): phases 200, 20,000, 200, the two
200-phases' p50s averaged as the floor. The added rows are removed afterwards. Flat means
the queue's cost does not follow the company's pending count.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accessportal.kernel.choices import RequestState
from bench.bulk import analyze, foreign_key_checks_off, load_rows
from bench.common import Report, count_queries, interleaved, ratio, requests_delete, summary_ms
from bench.seed import (
    GROUP_PERM_COLUMNS,
    REQUEST_COLUMNS,
    new_uuid,
    permission_ids,
    request_row,
    username,
)
from policies_app.models import Role
from requests_app.models import (
    AccessRequest,
    AccessRequestGroupObjectPermission,
    AccessRequestUserObjectPermission,
    Review,
)
from requests_app.selectors import requests_needing_review

FLAT_FACTOR = 1.5
PAGE = 50
ELSEWHERE = (200, 20_000)
ELSEWHERE_FACTOR = 1.2
MARKER = "bench-listing fixture"


def _page(user) -> list:
    queryset = (
        requests_needing_review(user)
        .select_related("user", "resolved_by", "revoked_by")
        .prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("reviewer")))
    )
    return list(queryset[:PAGE])


def _reviewers() -> list[tuple[int, object]]:
    teams = Role.objects.filter(name__startswith="team-").count()
    if not teams:
        raise SystemExit("seed the database first: python -m bench seed")
    User = get_user_model()
    chosen = sorted({0, min(9, teams - 1), min(99, teams - 1)})
    out = []
    for team in chosen:
        # reviewer k of team t is user index t + teams * k (bench.seed.reviewer_indexes)
        out.append((team, User.objects.get(username=username(team))))
    return out


def _add_pending_elsewhere(count: int, *, skip_team: int, seed: int) -> None:
    """`count` PENDING requests of teams other than `skip_team`, each with its team's
    reviewer profile group's view and review rows (what `request_permissions_create`
    writes), bulk loaded."""
    User = get_user_model()
    teams = Role.objects.filter(name__startswith="team-").count()
    others = [t for t in range(min(teams, 50)) if t != skip_team]
    through = User.groups.through
    group_of = {}
    for team in others:
        group_of[team] = (
            through.objects.filter(
                user__username=username(team), group__reviewer_profile__isnull=False
            )
            .values_list("group_id", flat=True)
            .first()
        )
    requester_of = {team: User.objects.get(username=username(team + teams)).pk for team in others}
    view, review = permission_ids()
    rng = random.Random(seed)
    now = timezone.now()
    requests, rows = [], []
    for n in range(count):
        team = others[n % len(others)]
        rid = new_uuid(rng)
        created = now - timedelta(minutes=30, seconds=rng.uniform(0, 3600))
        requests.append(
            request_row(
                rid=rid,
                user_id=requester_of[team],
                team=team,
                roles=[f"svc-{team}-1"],
                resources=[],
                state=RequestState.PENDING,
                created=created,
                expires=now + timedelta(hours=20),
                reason=MARKER,
            )
        )
        rows += [(rid, view, group_of[team]), (rid, review, group_of[team])]
    with foreign_key_checks_off():
        load_rows(AccessRequest._meta.db_table, REQUEST_COLUMNS, requests)
        load_rows(AccessRequestGroupObjectPermission._meta.db_table, GROUP_PERM_COLUMNS, rows)
    analyze([AccessRequest._meta.db_table, AccessRequestGroupObjectPermission._meta.db_table])


def _remove_pending_elsewhere() -> None:
    requests_delete(AccessRequest.objects.filter(reason=MARKER))
    analyze([AccessRequest._meta.db_table, AccessRequestGroupObjectPermission._meta.db_table])


def _pending() -> int:
    return AccessRequest.objects.filter(state=RequestState.PENDING).count()


def measure_elsewhere(user, calls, *, iterations: int, sizes=ELSEWHERE) -> dict:
    """The reviewer's queue with 200, then 20,000, then 200 pending requests elsewhere."""
    small, large = sizes
    _remove_pending_elsewhere()  # a crashed run's rows
    phases = []
    try:
        for added, seed in ((small, 1), (large - small, 2), (None, 3)):
            if added is None:
                _remove_pending_elsewhere()
                _add_pending_elsewhere(small, skip_team=0, seed=seed)
            else:
                _add_pending_elsewhere(added, skip_team=0, seed=seed)
            timings = interleaved(calls, iterations, warmup=min(20, iterations))
            phases.append(
                {
                    "added_elsewhere": small if added in (None, small) else large,
                    "company_pending": _pending(),
                    "pending_to_review": requests_needing_review(user).count(),
                    "domain": summary_ms(timings["domain"]),
                    "api": summary_ms(timings["api"]),
                    "domain_queries": count_queries(lambda: calls["domain"](0)),
                    "api_queries": count_queries(lambda: calls["api"](0)),
                }
            )
    finally:
        _remove_pending_elsewhere()
    first, middle, last = phases
    out = {"phases": phases}
    for kind in ("domain", "api"):
        floor = (first[kind]["p50_ms"] + last[kind]["p50_ms"]) / 2
        out[f"{kind}_p50_{large}_vs_{small}"] = ratio(middle[kind]["p50_ms"], floor)
    out["queries_constant"] = len({(p["domain_queries"], p["api_queries"]) for p in phases}) == 1
    out["flat"] = (
        out[f"domain_p50_{large}_vs_{small}"] <= ELSEWHERE_FACTOR
        and out[f"api_p50_{large}_vs_{small}"] <= ELSEWHERE_FACTOR
    )
    return out


def measure(*, iterations: int, elsewhere_sizes=ELSEWHERE) -> Report:
    reviewers = _reviewers()
    stats = {}
    for team, user in reviewers:
        stats[user.username] = {
            "team": team,
            # Rows that reach the reviewer: their own and their reviewer profile group's.
            "history_permission_rows": AccessRequestUserObjectPermission.objects.filter(
                user=user
            ).count()
            + AccessRequestGroupObjectPermission.objects.filter(group__user=user).count(),
            "reviews_written": Review.objects.filter(reviewer=user).count(),
            "pending_to_review": requests_needing_review(user).count(),
        }
    clients = {
        user.username: DjangoClient(
            HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}"
        )
        for _, user in reviewers
    }

    def api(name: str):
        response = clients[name].get("/api/v1/requests/", {"scope": "needs_review"})
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.content[:200]!r}")
        return response

    calls = {}
    for _, user in reviewers:
        calls[f"domain {user.username}"] = lambda i, u=user: _page(u)
        calls[f"api {user.username}"] = lambda i, n=user.username: api(n)
    timings = interleaved(calls, iterations, warmup=min(20, iterations))
    for _, user in reviewers:
        s = stats[user.username]
        s["domain"] = summary_ms(timings[f"domain {user.username}"])
        s["api"] = summary_ms(timings[f"api {user.username}"])
        s["domain_queries"] = count_queries(lambda u=user: _page(u))
        s["api_queries"] = count_queries(lambda n=user.username: api(n))

    names = [u.username for _, u in reviewers]
    longest = reviewers[0][1]
    elsewhere = measure_elsewhere(
        longest,
        {"domain": lambda i: _page(longest), "api": lambda i: api(longest.username)},
        iterations=iterations,
        sizes=elsewhere_sizes,
    )
    small, large = stats[names[-1]], stats[names[0]]
    targets = {
        "history_largest_vs_smallest": ratio(
            large["history_permission_rows"], small["history_permission_rows"]
        ),
        "domain_p50_largest_vs_smallest_history": ratio(
            large["domain"]["p50_ms"], small["domain"]["p50_ms"]
        ),
        "api_p50_largest_vs_smallest_history": ratio(
            large["api"]["p50_ms"], small["api"]["p50_ms"]
        ),
        "queries_constant": len({(s["domain_queries"], s["api_queries"]) for s in stats.values()})
        == 1,
    }
    targets["flat"] = (
        targets["domain_p50_largest_vs_smallest_history"] <= FLAT_FACTOR
        and targets["api_p50_largest_vs_smallest_history"] <= FLAT_FACTOR
    )
    report = Report("listing")
    report.params = {"iterations": iterations, "page_size": PAGE}
    report.results = {"reviewers": stats, "targets": targets, "pending_elsewhere": elsewhere}
    report.header = ["reviewer", "team", "history rows", "pending", "domain p50", "domain p99",
                     "api p50", "api p99", "queries (domain/api)"]  # fmt: skip
    for name in names:
        s = stats[name]
        report.rows.append(
            [
                name,
                s["team"],
                s["history_permission_rows"],
                s["pending_to_review"],
                s["domain"]["p50_ms"],
                s["domain"]["p99_ms"],
                s["api"]["p50_ms"],
                s["api"]["p99_ms"],
                f"{s['domain_queries']}/{s['api_queries']}",
            ]  # fmt: skip
        )
    report.notes.append(
        f"target: needs_review flat in history ({targets['history_largest_vs_smallest']}x more "
        f"history): p50 ratio domain {targets['domain_p50_largest_vs_smallest_history']}, api "
        f"{targets['api_p50_largest_vs_smallest_history']} -> "
        f"{'met' if targets['flat'] else 'MISSED'}; queries constant: "
        f"{targets['queries_constant']}"
    )
    report.notes.append(
        f"{longest.username}, same queue, pending requests elsewhere "
        + " / ".join(
            f"+{p['added_elsewhere']:,} ({p['company_pending']:,} in the company): domain "
            f"{p['domain']['p50_ms']} ms, api {p['api']['p50_ms']} ms, queries "
            f"{p['domain_queries']}/{p['api_queries']}"
            for p in elsewhere["phases"]
        )
    )
    small_n, large_n = elsewhere_sizes
    report.notes.append(
        f"target: flat in pending elsewhere, p50({large_n:,})/p50({small_n:,}) <= "
        f"{ELSEWHERE_FACTOR}: domain {elsewhere[f'domain_p50_{large_n}_vs_{small_n}']}, api "
        f"{elsewhere[f'api_p50_{large_n}_vs_{small_n}']} -> "
        f"{'met' if elsewhere['flat'] else 'MISSED'}; queries constant: "
        f"{elsewhere['queries_constant']}"
    )
    return report


def run(args) -> Report:
    return measure(iterations=20 if args.quick else 300)
