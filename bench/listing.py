"""`needs_review` must be flat in the size of history.

The seed spreads requests over teams with a Zipf law but gives every team the same number
of PENDING requests, so the first reviewer of team 0 has ~10x the history of the one of
team 9 and ~100x that of team 99, with the same queue. For each of them, alternating:
`requests_needing_review(user)` evaluated as the API pages it, and the whole API call
`GET /api/v1/requests/?scope=needs_review` through the Django stack (in-process), with
query counts. Flat means the same latency and the same queries for every reviewer.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Prefetch
from django.test import Client as DjangoClient
from rest_framework.authtoken.models import Token

from bench.common import Report, count_queries, interleaved, ratio, summary_ms
from bench.seed import username
from policies_app.models import Role
from requests_app.models import (
    AccessRequestGroupObjectPermission,
    AccessRequestUserObjectPermission,
    Review,
)
from requests_app.selectors import requests_needing_review

FLAT_FACTOR = 1.5
PAGE = 50


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


def measure(*, iterations: int) -> Report:
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
    report.results = {"reviewers": stats, "targets": targets}
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
    return report


def run(args) -> Report:
    return measure(iterations=20 if args.quick else 300)
