"""What recording grant usage costs the access check, against its floor, in the same run.

Allowed role checks answered from grants open now (the only checks that record a use), each
timed four ways, call by call in turn: the primary-key select of a grant (the floor, as in
`bench access`); `access_check(..., record_use=False)` (no recording); `access_check` as
shipped, in the steady state (this process wrote the grant's use within
USAGE_RECORD_INTERVAL: no write); and the worst case, every call writing (the process's
memory of that grant dropped and the interval 0, so the conditional UPDATE always matches), which is
what the first check of each grant in each interval costs. Queries per call too.

The grants' `first_used`/`last_used` are put back as they were afterwards.
"""

from __future__ import annotations

import random

from django.conf import settings
from django.utils import timezone

from bench.common import Report, count_queries, interleaved, ratio, summary_ms
from requests_app.models import Grant
from requests_app.selectors.access import access_check
from requests_app.services.usage import _recent, usage_cache_clear

FLOOR_FACTOR = 3.0  # the access bench's target: within 3x of the primary-key select
STEADY_FACTOR = 1.25  # steady-state recording within 25% of no recording (noise included)


def _samples(n: int, rng: random.Random) -> list[tuple]:
    """(user, role, grant id) of role grants open now, one per user and role."""
    rows = list(
        Grant.objects.open_at(timezone.now())
        .exclude(role="")
        .select_related("user")
        .order_by("-id")[: n * 4]
    )
    rng.shuffle(rows)
    seen, picked = set(), []
    for grant in rows:
        if (grant.user_id, grant.role) not in seen:
            seen.add((grant.user_id, grant.role))
            picked.append((grant.user, grant.role, grant.pk))
    return picked[:n]


def run(args) -> Report:
    rng = random.Random(21)
    iterations = 200 if args.quick else 3000
    samples = _samples(50 if args.quick else 500, rng)
    report = Report(name="usage", params={"iterations": iterations, "checks": len(samples)})
    if not samples:
        report.notes.append("no role grant is open now: seed first (python -m bench seed)")
        return report
    touched = Grant.objects.filter(
        user_id__in={u.pk for u, _, _ in samples}, role__in={r for _, r, _ in samples}
    )
    before = list(touched.values_list("pk", "first_used", "last_used"))
    pks = [pk for _, _, pk in samples]
    interval = settings.USAGE_RECORD_INTERVAL

    def floor(i: int) -> None:
        Grant.objects.filter(pk=pks[i % len(pks)]).first()

    def no_record(i: int) -> None:
        user, role, _ = samples[i % len(samples)]
        assert access_check(user=user, role=role, record_use=False).allowed

    def steady(i: int) -> None:
        user, role, _ = samples[i % len(samples)]
        assert access_check(user=user, role=role).allowed

    def every_call_writes(i: int) -> None:
        user, role, _ = samples[i % len(samples)]
        _recent.pop((user.pk, "role", role), None)  # this grant only: the others stay steady
        settings.USAGE_RECORD_INTERVAL = 0
        try:
            assert access_check(user=user, role=role).allowed
        finally:
            settings.USAGE_RECORD_INTERVAL = interval

    calls = {
        "pk_floor": floor,
        "check_no_record": no_record,
        "check_recording_steady": steady,
        "check_every_call_writes": every_call_writes,
    }
    try:
        for i in range(len(samples)):  # the steady state: each grant's use written once
            steady(i)
        timings = interleaved(calls, iterations, warmup=min(50, iterations))
        queries = {name: count_queries(lambda fn=fn: fn(0)) for name, fn in calls.items()}
    finally:
        for pk, first, last in before:
            Grant.objects.filter(pk=pk).update(first_used=first, last_used=last)
        usage_cache_clear()

    figures = {name: summary_ms(t) for name, t in timings.items()}
    floor_p50 = figures["pk_floor"]["p50_ms"]
    report.header = ["call", "p50 ms", "p99 ms", "p50 / floor", "queries"]
    for name, f in figures.items():
        row = [name, f["p50_ms"], f["p99_ms"], ratio(f["p50_ms"], floor_p50), queries[name]]
        report.rows.append(row)
    steady_vs_none = ratio(figures["check_recording_steady"]["p50_ms"],
                           figures["check_no_record"]["p50_ms"])  # fmt: skip
    writes_vs_none = ratio(figures["check_every_call_writes"]["p50_ms"],
                           figures["check_no_record"]["p50_ms"])  # fmt: skip
    report.results = {
        "figures": figures,
        "queries": queries,
        "ratios": {
            "no_record_vs_floor": ratio(figures["check_no_record"]["p50_ms"], floor_p50),
            "steady_vs_floor": ratio(figures["check_recording_steady"]["p50_ms"], floor_p50),
            "every_call_writes_vs_floor": ratio(
                figures["check_every_call_writes"]["p50_ms"], floor_p50
            ),
            "steady_vs_no_record": steady_vs_none,
            "every_call_writes_vs_no_record": writes_vs_none,
        },
        "targets": {
            "steady_within_3x_floor": figures["check_recording_steady"]["p50_ms"]
            <= FLOOR_FACTOR * floor_p50,
            "steady_within_25pct_of_no_record": steady_vs_none <= STEADY_FACTOR,
        },
    }
    report.notes.append(
        f"steady state / no recording: {steady_vs_none}x; every call writing / no recording: "
        f"{writes_vs_none}x (the first check of a grant in each USAGE_RECORD_INTERVAL)"
    )
    return report
