"""Threshold evaluation: one request for 50 roles, each with 5 threshold sets, 200 reviews.

The requester holds 5 roles that each allow requesting the 50 roles with their own
thresholds (so each requested role gets 5 sets); 200 reviewers review it one after another
through `review_submit`, none of them reaching a threshold (so every review evaluates every
set). Measured: creating the request (snapshot), each review (p50/p99, first and last 20,
query counts), and `tally` / `progress` / `matching_thresholds` over the 200 reviews.

The fixture's roles and requests (`thr-*`) are removed afterwards and before each run; its
users stay (they are actors of audit events) and are reused.
"""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.db import transaction

from bench.common import (
    Report,
    count_queries,
    interleaved,
    ratio,
    requests_delete,
    summary_ms,
    timed,
)
from policies_app.documents import normalize_role
from policies_app.models import Role
from policies_app.services.profiles import reviewer_profiles_sync
from requests_app.models import (
    AccessRequest,
)
from requests_app.selectors import request_context
from requests_app.services.access_requests import access_request_create
from requests_app.services.reviews import review_submit
from requests_app.services.thresholds import matching_thresholds, progress, tally

ROLES = 50
SETS = 5
REVIEWS = 200
PREFIX = "thr-"


def _role_docs(roles: int, sets: int, reviews: int) -> list[dict]:
    raw = [{"name": f"{PREFIX}role-{i:02d}", "spec": {}} for i in range(roles)]
    for j in range(sets):
        thresholds = [
            # Never reached within the run: every review evaluates every set.
            {"name": f"squad-{j}", "filter": f'contains(reviewer.roles, "{PREFIX}squad-{j}")',
             "approve": reviews + 1},
            {"name": "quorum", "approve": reviews + 1},
            {"name": f"lgtm-{j}", "filter": f'contains(review.reason, "lgtm-{j}")',
             "approve": reviews + 1, "deny": reviews + 1},
        ]  # fmt: skip
        raw.append(
            {
                "name": f"{PREFIX}requester-{j}",
                "spec": {"allow": {"request": {"roles": [f"{PREFIX}role-*"],
                                               "thresholds": thresholds}}},
            }
        )  # fmt: skip
        raw.append({"name": f"{PREFIX}squad-{j}", "spec": {}})
    raw.append(
        {
            "name": f"{PREFIX}reviewer",
            "spec": {"allow": {"review_requests": {"roles": [f"{PREFIX}role-*"]}}},
        }
    )
    out = []
    for doc in raw:
        normalized, problems = normalize_role({"kind": "role", **doc})
        if problems:
            raise ValueError(problems)
        out.append(normalized)
    return out


def remove_fixture() -> None:
    """Delete the fixture's requests (with their reviews, grants, notifications) and roles.

    The `thr-*` users stay: they are the actors of audit events, which are never removed.
    """
    User = get_user_model()
    users = User.objects.filter(username__startswith=PREFIX)
    requests = AccessRequest.objects.filter(user__in=users)
    requests_delete(requests)
    with transaction.atomic():
        Role.objects.filter(name__startswith=PREFIX).delete()
        reviewer_profiles_sync(user_ids=users.values_list("pk", flat=True))


def add_fixture(roles: int, sets: int, reviews: int):
    User = get_user_model()
    names = [f"{PREFIX}requester", *(f"{PREFIX}reviewer-{k:03d}" for k in range(reviews))]
    with transaction.atomic():
        made = {
            doc["name"]: Role.objects.create(name=doc["name"], spec=doc["spec"])
            for doc in _role_docs(roles, sets, reviews)
        }
        existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
        User.objects.bulk_create([User(username=n) for n in names if n not in existing])
        users = {u.username: u for u in User.objects.filter(username__in=names)}
        requester, reviewers = users[names[0]], [users[n] for n in names[1:]]
        requester.standing_roles.set([made[f"{PREFIX}requester-{j}"] for j in range(sets)])
        through = Role.members.through
        through.objects.bulk_create(
            [through(role=made[f"{PREFIX}reviewer"], user=u) for u in reviewers]
            + [
                through(role=made[f"{PREFIX}squad-{k % sets}"], user=u)
                for k, u in enumerate(reviewers)
            ]
        )
        reviewer_profiles_sync(user_ids=[u.pk for u in users.values()])
    return requester, reviewers


def measure(
    *, roles: int = ROLES, sets: int = SETS, reviews: int = REVIEWS, iterations: int
) -> Report:
    remove_fixture()
    try:
        requester, reviewers = add_fixture(roles, sets, reviews)
        role_names = [f"{PREFIX}role-{i:02d}" for i in range(roles)]
        create_s, request = timed(
            lambda: access_request_create(requester=requester, roles=role_names, reason="bench")
        )
        policy = request.policy
        review_times, review_queries = [], []
        for k, reviewer in enumerate(reviewers):
            reason = f"lgtm-{k % sets}" if k % 2 else "looks fine"

            def submit(reviewer=reviewer, reason=reason):
                return review_submit(
                    request_id=request.pk, reviewer=reviewer, state="APPROVED", reason=reason
                )

            start = time.perf_counter()
            if k in (0, reviews - 1):
                review_queries.append(count_queries(submit))
            else:
                submit()
            review_times.append(time.perf_counter() - start)
        request.refresh_from_db()
        stored = list(request.reviews.all())
        subject_ctx = {
            "reviewer": {"roles": [f"{PREFIX}reviewer", f"{PREFIX}squad-0"], "traits": {}},
            "request": request_context(request),
            "review": {"reason": "lgtm-0"},
        }
        thresholds = policy["thresholds"]
        timings = interleaved(
            {
                "tally": lambda i: tally(policy, stored),
                "progress": lambda i: progress(policy, stored),
                "matching_thresholds": lambda i: matching_thresholds(thresholds, subject_ctx),
            },
            iterations,
            warmup=min(20, iterations),
        )
        state = request.state
    finally:
        remove_fixture()

    n_sets = sum(len(s) for s in policy["sets"].values())
    report = Report("thresholds")
    report.params = {
        "roles": roles,
        "sets_per_role": sets,
        "reviews": reviews,
        "distinct_thresholds": len(thresholds),
        "sets_total": n_sets,
        "iterations": iterations,
    }
    first, last = review_times[:20], review_times[-20:]
    report.results = {
        "create_request_ms": round(create_s * 1000, 3),
        "review_submit": summary_ms(review_times),
        "review_submit_first_20": summary_ms(first),
        "review_submit_last_20": summary_ms(last),
        "review_submit_last_vs_first_p50": ratio(
            summary_ms(last)["p50_ms"], summary_ms(first)["p50_ms"]
        ),
        "review_submit_queries_first_last": review_queries,
        "tally": summary_ms(timings["tally"]),
        "progress": summary_ms(timings["progress"]),
        "matching_thresholds": summary_ms(timings["matching_thresholds"]),
        "final_state": state,
    }
    r = report.results
    report.header = ["what", "p50 ms", "p99 ms", "n"]
    report.rows = [
        [f"access_request_create ({roles} roles x {sets} sets)", r["create_request_ms"], "", 1],
        ["review_submit, all", r["review_submit"]["p50_ms"], r["review_submit"]["p99_ms"],
         len(review_times)],
        ["review_submit, first 20", r["review_submit_first_20"]["p50_ms"],
         r["review_submit_first_20"]["p99_ms"], len(first)],
        ["review_submit, last 20", r["review_submit_last_20"]["p50_ms"],
         r["review_submit_last_20"]["p99_ms"], len(last)],
        [f"tally ({reviews} reviews)", r["tally"]["p50_ms"], r["tally"]["p99_ms"], iterations],
        [f"progress ({reviews} reviews)", r["progress"]["p50_ms"], r["progress"]["p99_ms"],
         iterations],
        ["matching_thresholds (1 review)", r["matching_thresholds"]["p50_ms"],
         r["matching_thresholds"]["p99_ms"], iterations],
    ]  # fmt: skip
    report.notes.append(
        f"{len(thresholds)} distinct thresholds, {n_sets} sets; review_submit queries "
        f"(first, last): {review_queries}; the request stays {state} (no threshold reached)"
    )
    return report


def run(args) -> Report:
    if args.quick:
        return measure(roles=10, sets=5, reviews=20, iterations=50)
    return measure(iterations=500)
