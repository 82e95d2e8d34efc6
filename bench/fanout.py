"""Reviewer fan-out: creating (and approving) a request whose eligible reviewers number 10,
1,000 and 10,000.

Three reviewing roles (`fan-rev-10`, `-1000`, `-10000`) each review one target role; the
first N of 10,000 users hold `fan-rev-N` (so users fall into three reviewer profiles). A
request for `fan-target-N` therefore has N eligible reviewers. Each iteration creates one
request per size through `access_request_create` and approves it through `review_submit`
(by a reviewer eligible for all three), alternating sizes call by call. The floor is the
10-reviewer request, measured in the same run; the targets: create and approve, each
p50 10,000 / 10 <= 1.2.

The fixture's requests are removed afterwards; its users stay (actors of audit events) and
are reused; its roles are removed and the profiles resynced.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import transaction

from bench.common import Report, count_queries, ratio, requests_delete, summary_ms
from policies_app.models import Role
from policies_app.services.profiles import reviewer_profiles_sync
from requests_app.models import (
    AccessRequest,
    AccessRequestGroupObjectPermission,
    AccessRequestUserObjectPermission,
)
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit

PREFIX = "fan-"
SIZES = (10, 1_000, 10_000)
TARGET = 1.2


def remove_fixture() -> None:
    User = get_user_model()
    requests = AccessRequest.objects.filter(user__username__startswith=PREFIX)
    requests_delete(requests)
    with transaction.atomic():
        Role.objects.filter(name__startswith=PREFIX).delete()
        reviewer_profiles_sync(
            user_ids=User.objects.filter(username__startswith=PREFIX).values_list("pk", flat=True)
        )


def add_fixture(sizes=SIZES):
    User = get_user_model()
    names = [f"{PREFIX}requester", *(f"{PREFIX}u{k:05d}" for k in range(max(sizes)))]
    with transaction.atomic():
        targets = {n: Role.objects.create(name=f"{PREFIX}target-{n}") for n in sizes}
        requester_role = Role.objects.create(
            name=f"{PREFIX}requester",
            spec={"allow": {"request": {"roles": [t.name for t in targets.values()]}}},
        )
        reviewing = {
            n: Role.objects.create(
                name=f"{PREFIX}rev-{n}",
                spec={"allow": {"review_requests": {"roles": [targets[n].name]}}},
            )
            for n in sizes
        }
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        User.objects.bulk_create(
            [User(username=n) for n in names if n not in existing], batch_size=2000
        )
        ids = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
        through = Role.members.through
        rows = [through(role=requester_role, user_id=ids[names[0]])]
        for n in sizes:
            rows += [through(role=reviewing[n], user_id=ids[name]) for name in names[1 : n + 1]]
        through.objects.bulk_create(rows, batch_size=5000)
        sync = reviewer_profiles_sync(user_ids=ids.values())
    users = User.objects.in_bulk([ids[names[0]], ids[names[1]]])
    return users[ids[names[0]]], users[ids[names[1]]], len(sync.created)


def run(args) -> Report:
    if args.quick:
        return measure(sizes=(10, 100, 1_000), iterations=5, warmup=1)
    return measure()


def measure(*, sizes=SIZES, iterations: int = 30, warmup: int = 3) -> Report:
    remove_fixture()
    report = Report(
        "fanout",
        params={"sizes": list(sizes), "iterations": iterations, "warmup": warmup},
        header=["eligible reviewers", "create p50 ms", "create p99 ms", "approve p50 ms",
                "approve p99 ms", "rows written", "queries (create / approve)",
                "create ratio to 10", "approve ratio to 10"],
    )  # fmt: skip
    try:
        requester, approver, profiles = add_fixture(sizes)
        create = {n: [] for n in sizes}
        approve = {n: [] for n in sizes}
        queries, approve_queries, rows = {}, {}, {}
        for i in range(warmup + iterations):
            for n in sizes:

                def make(n=n):
                    return access_request_create(
                        requester=requester, roles=[f"{PREFIX}target-{n}"], reason="bench"
                    )

                start = time.perf_counter()
                request = make()
                took = time.perf_counter() - start

                def approving(request=request):
                    review_submit(request_id=request.pk, reviewer=approver, state="APPROVED")

                start = time.perf_counter()
                approving()
                approved = time.perf_counter() - start
                if i >= warmup:
                    create[n].append(took)
                    approve[n].append(approved)
                if i == 0:
                    rows[n] = (
                        AccessRequestUserObjectPermission.objects.filter(
                            content_object=request
                        ).count()
                        + AccessRequestGroupObjectPermission.objects.filter(
                            content_object=request
                        ).count()
                    )
                    queries[n] = count_queries(make)
                    extra = make()
                    approve_queries[n] = count_queries(lambda extra=extra: approving(extra))
        floor = summary_ms(create[sizes[0]])["p50_ms"]
        approve_floor = summary_ms(approve[sizes[0]])["p50_ms"]
        for n in sizes:
            c, a = summary_ms(create[n]), summary_ms(approve[n])
            report.results[str(n)] = {
                "create": c,
                "approve": a,
                "rows_written": rows[n],
                "queries": queries[n],
                "approve_queries": approve_queries[n],
                "ratio_to_floor": ratio(c["p50_ms"], floor),
                "approve_ratio_to_floor": ratio(a["p50_ms"], approve_floor),
            }
            report.rows.append(
                [n, c["p50_ms"], c["p99_ms"], a["p50_ms"], a["p99_ms"], rows[n],
                 f"{queries[n]} / {approve_queries[n]}", ratio(c["p50_ms"], floor),
                 ratio(a["p50_ms"], approve_floor)]
            )  # fmt: skip
        big = ratio(summary_ms(create[sizes[-1]])["p50_ms"], floor)
        big_approve = ratio(summary_ms(approve[sizes[-1]])["p50_ms"], approve_floor)
        report.results["ratio_largest_to_smallest"] = big
        report.results["approve_ratio_largest_to_smallest"] = big_approve
        report.results["reviewer_profiles"] = profiles
        report.results["target_met"] = big <= TARGET
        report.results["approve_target_met"] = big_approve <= TARGET
        for what, value in (("create", big), ("approve", big_approve)):
            verdict = "met" if value <= TARGET else "MISSED"
            report.notes.append(
                f"{what} p50 {sizes[-1]:,} / {sizes[0]} reviewers = {value} "
                f"(target <= {TARGET}: {verdict})"
            )
    finally:
        remove_fixture()
    return report
