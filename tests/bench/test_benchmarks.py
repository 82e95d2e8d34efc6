"""Small-scale runs of the seeder and of every benchmark, so they cannot rot.

They check that each benchmark runs against a tiny seeded company and reports (the JSON
file with its expected keys, figures that are numbers), never how fast anything was.
"""

from __future__ import annotations

import json
import math
import os
import shutil

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from accessportal.kernel.models import AuditEvent
from bench import access, credentials, fanout, listing, sweep, thresholds, throughput
from bench.seed import INTEGRATION, Shape, seed, username
from bench.server import gunicorn_available
from policies_app.models import Role
from requests_app.models import AccessRequest, Grant, Review
from requests_app.selectors import requests_needing_review
from requests_app.selectors.access import access_check

TINY = 0.0005
REQUIRE_SERVICES = os.environ.get("ACCESSPORTAL_REQUIRE_SERVICES") == "1"


def _written(report, tmp_path) -> dict:
    path = report.write(tmp_path)
    assert path == tmp_path / f"{report.name}.json"
    body = json.loads(path.read_text())
    assert {"benchmark", "measured_at", "machine", "params", "results", "table"} <= body.keys()
    assert body["benchmark"] == report.name
    assert body["table"]["rows"], "the printed table has rows"
    assert report.table().count("\n") >= 2
    return body


def _number(value) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value >= 0


@pytest.fixture
def company(db):
    return seed(scale=TINY, echo=lambda *a: None)


def test_seeder_builds_a_consistent_company(company, tmp_path):
    body = _written(company, tmp_path)
    shape = Shape.at(TINY)
    rows = body["results"]["rows"]
    assert rows["users"] == shape.users + 1  # + the integration account
    assert rows["requests"] == AccessRequest.objects.count() == shape.requests
    assert rows["grants"] == Grant.objects.count() == shape.grants
    assert rows["reviews"] == Review.objects.count() > 0
    # What the services see in it: a reviewer's queue, and the grants active now.
    reviewer = get_user_model().objects.get(username=username(0))
    assert requests_needing_review(reviewer).count() == shape.pending_per_team
    now = timezone.now()
    active = Grant.objects.filter(starts__lte=now, expires__gt=now, ended_at=None).exclude(role="")
    grant = active.select_related("user").first()
    assert grant is not None, "about 1% of the grants are active"
    assert access_check(user=grant.user, role=grant.role).allowed


def test_seeder_refuses_to_seed_twice_without_reset(company):
    with pytest.raises(SystemExit, match="already seeded"):
        seed(scale=TINY, echo=lambda *a: None)
    again = seed(scale=TINY, reset=True, echo=lambda *a: None)
    assert again.results["rows"]["requests"] == AccessRequest.objects.count()


def test_access_benchmark_reports_each_size_against_the_floor(company, tmp_path):
    report = access.measure(iterations=3, http_iterations=3, http=False)
    body = _written(report, tmp_path)
    sizes = body["results"]["sizes"]
    assert list(sizes) == [str(s) for s in access.grant_sizes(Shape.at(TINY).grants)]
    for entry in sizes.values():
        for call in ("pk_floor", "role_check", "resource_check"):
            assert _number(entry["domain"][call]["p50_ms"])
            assert _number(entry["domain"][call]["p99_ms"])
            assert entry["queries"][call] >= 1
        assert _number(entry["ratios"]["role_check_p50_vs_pk"])
    assert {"within_3x_of_pk", "flat", "queries_constant"} <= body["results"]["targets"].keys()
    # Every parked grant is back.
    assert Grant.objects.count() == Shape.at(TINY).grants


def test_sweep_benchmark_writes_one_audit_event_per_row(company, tmp_path):
    before = AuditEvent.objects.count()
    report = sweep.measure(rows=20)
    body = _written(report, tmp_path)
    results = body["results"]
    assert results["grants"]["rows"] == results["grants"]["floor_rows"] >= 20
    assert results["requests"]["rows"] == results["requests"]["floor_rows"] >= 20
    assert results["targets"]["one_audit_event_per_row"]
    # Each expired request's reviewer review row (the fixture writes them as the services
    # do) was ended by the sweep, in its batch.
    assert results["review_rows_ended"] >= 20 and results["review_rows_left"] == 0
    assert results["targets"]["review_rows_of_expired_requests_ended"]
    written = AuditEvent.objects.count() - before
    assert written == results["grants"]["rows"] + results["requests"]["rows"]
    assert _number(results["grants"]["ratio"]) and _number(results["requests"]["ratio"])
    # The fixture is gone; the seeded history is as it was.
    assert not AccessRequest.objects.filter(reason=sweep.MARKER).exists()


def test_sweep_experiment_leaves_out_only_the_audit_and_notifications(company, monkeypatch):
    """bench/experiments/sweep_parts.py: the run "without" ends as many rows and writes no
    audit event or notification; the one "with" writes an event per row; the services are
    as shipped afterwards."""
    from bench.experiments import sweep_parts
    from requests_app.services import grants, resolution

    shipped = (grants.audit_record_many, resolution.outbox_enqueue_many)
    monkeypatch.setenv("ROWS", "20")
    without, with_ = sweep_parts.main(["without", "with"])
    assert without["audit_events"] == 0 and without["notifications"] == 0
    assert without["grants"]["rows"] >= 20 and without["requests"]["rows"] >= 20
    assert with_["audit_events"] == with_["grants"]["rows"] + with_["requests"]["rows"]
    assert with_["notifications"] > 0
    assert (grants.audit_record_many, resolution.outbox_enqueue_many) == shipped


def test_thresholds_benchmark_reviews_every_set(db, tmp_path):
    report = thresholds.measure(roles=4, sets=3, reviews=6, iterations=3)
    body = _written(report, tmp_path)
    results = body["results"]
    assert body["params"]["sets_total"] == 4 * 3
    assert results["review_submit"]["n"] == 6
    assert results["final_state"] == "PENDING"
    assert _number(results["tally"]["p50_ms"]) and _number(results["create_request_ms"])
    assert not AccessRequest.objects.filter(user__username__startswith=thresholds.PREFIX).exists()
    assert not Role.objects.filter(name__startswith=thresholds.PREFIX).exists()


def test_fanout_benchmark_writes_rows_per_profile_not_per_reviewer(db, tmp_path):
    report = fanout.measure(sizes=(2, 30), iterations=2, warmup=1)
    body = _written(report, tmp_path)
    results = body["results"]
    # Requester and approver view rows, plus a view row per eligible profile (their review
    # rows end with the approval).
    assert results["2"]["rows_written"] == 3 and results["30"]["rows_written"] == 4
    assert _number(results["ratio_largest_to_smallest"])
    assert _number(results["approve_ratio_largest_to_smallest"])  # approving is a target too
    assert "approve_target_met" in results
    # as many queries to create, and to approve, whatever the number of eligible reviewers
    assert results["2"]["queries"] == results["30"]["queries"]
    assert results["2"]["approve_queries"] == results["30"]["approve_queries"]
    assert not AccessRequest.objects.filter(user__username__startswith=fanout.PREFIX).exists()
    assert not Role.objects.filter(name__startswith=fanout.PREFIX).exists()


def test_listing_benchmark_compares_reviewers_by_history(company, tmp_path):
    requests = AccessRequest.objects.count()
    report = listing.measure(iterations=3, elsewhere_sizes=(2, 20))
    body = _written(report, tmp_path)
    reviewers = body["results"]["reviewers"]
    assert len(reviewers) == 2  # the tiny company has two teams
    for stats in reviewers.values():
        assert stats["pending_to_review"] == Shape.at(TINY).pending_per_team
        assert _number(stats["api"]["p50_ms"]) and stats["api_queries"] >= 1
    assert {"flat", "queries_constant"} <= body["results"]["targets"].keys()
    # The same queue with more pending requests elsewhere; the added rows are gone after.
    elsewhere = body["results"]["pending_elsewhere"]
    phases = elsewhere["phases"]
    assert [p["added_elsewhere"] for p in phases] == [2, 20, 2]
    assert phases[1]["company_pending"] - phases[0]["company_pending"] == 18
    assert {p["pending_to_review"] for p in phases} == {Shape.at(TINY).pending_per_team}
    assert {"flat", "queries_constant", "api_p50_20_vs_2"} <= elsewhere.keys()
    assert AccessRequest.objects.count() == requests


def _need_http_tools():
    missing = [
        name
        for name, present in (("gunicorn", gunicorn_available()), ("wrk", shutil.which("wrk")))
        if not present
    ]
    if missing:
        message = f"needs {' and '.join(missing)} (CI installs them)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def served_company(transactional_db, django_db_serialized_rollback):
    """Committed data, so a gunicorn process can read it. Serialized rollback, as every
    transactional test here: the data migrations' rows (permissions, the audit chain head)
    are restored after an earlier test's flush."""
    _need_http_tools()
    return seed(scale=TINY, echo=lambda *a: None)


@pytest.mark.postgres
def test_access_benchmark_over_http(served_company, tmp_path):
    report = access.measure(iterations=3, http_iterations=3)
    body = _written(report, tmp_path)
    for entry in body["results"]["sizes"].values():
        for call in ("bare", "check_role", "check_resource"):
            assert _number(entry["http"][call]["p50_ms"])
        assert entry["http_queries"]["bare"] == 1
        assert entry["http_queries"]["check_role"] >= 2
        assert _number(entry["ratios"]["http_check_role_p50_vs_bare"])


@pytest.mark.postgres
def test_throughput_benchmark_under_gunicorn_and_wrk(served_company, tmp_path):
    report = throughput.measure(duration=1, rounds=2)
    body = _written(report, tmp_path)
    endpoints = body["results"]["endpoints"]
    assert set(endpoints) == {"access_check", "create_request", "submit_review", "needs_review"}
    for result in endpoints.values():
        assert result["endpoint"]["requests_per_second"] > 0
        assert result["bare"]["requests_per_second"] > 0
        assert result["endpoint"]["non_2xx"] == 0
        assert result["queries"] >= 1
        assert len(result["rounds"]) == 2  # each round's reviews went to requests of their own
        # Where the time went: CPU per call of the workers and the database server, the
        # machine's busy share and the sampled backends (bench/cpu_split.py).
        # (The database's share of a 1 s run can round to 0 clock ticks; the workers' not.)
        for run in (result["cpu_ms_per_call"], result["bare_cpu_ms_per_call"]):
            assert run["web"] > 0 and run["database"] >= 0, run
        assert result["cpu_ratio"] > 0
        assert 0 < result["machine_busy"] <= 1
        assert result["backends"]["samples"] > 0
    assert body["results"]["targets"]["all_responses_2xx"]
    assert not AccessRequest.objects.filter(reason=throughput.MARKER).exists()
    assert get_user_model().objects.filter(username=INTEGRATION).exists()


def test_wrk_report_is_parsed():
    output = """Running 1s test @ http://127.0.0.1:8000/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.12ms    2.01ms  30.00ms   90.00%
  Latency Distribution
     50%    9.50ms
     75%   11.00ms
     90%   12.50ms
     99%    1.20s
  812 requests in 1.00s, 200.00KB read
  Non-2xx or 3xx responses: 3
Requests/sec:    811.50
Transfer/sec:    199.00KB
"""
    parsed = throughput.parse_wrk(output)
    assert parsed["requests_per_second"] == 811.5
    assert parsed["requests"] == 812
    assert parsed["p50_ms"] == 9.5
    assert parsed["p99_ms"] == 1200.0
    assert parsed["non_2xx"] == 3


def test_credentials_benchmark_verifies_and_issues_in_process(company, tmp_path):
    report = credentials.measure(iterations=5, http=False)
    body = _written(report, tmp_path)
    results = body["results"]
    assert results["subject"]["open_grants"] >= 1  # the user with the most open grants
    assert _number(results["in_process"]["issue"]["p50_ms"])
    assert _number(results["in_process"]["ratio_p50"])
    for alg in ("EdDSA", "ES256"):
        verification = results["verification"][alg]
        assert _number(verification["verify"]["p50_ms"])
        assert _number(verification["bare_decode"]["p50_ms"])
        assert _number(verification["ratio_p50"])
    assert results["queries"]["issue"] > results["queries"]["bare"] >= 1


@pytest.mark.postgres
def test_credentials_benchmark_over_http(served_company, tmp_path):
    report = credentials.measure(duration=1, rounds=1, iterations=5)
    body = _written(report, tmp_path)
    http = body["results"]["http"]
    assert http["endpoint"]["requests_per_second"] > 0 and http["bare"]["requests_per_second"] > 0
    assert http["endpoint"]["non_2xx"] == 0
    assert _number(body["results"]["targets"]["issuance_vs_bare"])


def test_usage_benchmark_compares_recording_with_none_and_puts_uses_back(company, tmp_path):
    from argparse import Namespace

    from bench import usage

    before = sorted(Grant.objects.values_list("pk", "first_used", "last_used"))
    report = usage.run(Namespace(quick=True))
    body = _written(report, tmp_path)
    calls = {row[0] for row in body["table"]["rows"]}
    assert calls == {"pk_floor", "check_no_record", "check_recording_steady",
                     "check_every_call_writes"}  # fmt: skip
    assert body["results"]["queries"]["check_recording_steady"] == 1
    assert _number(body["results"]["ratios"]["steady_vs_no_record"])
    assert sorted(Grant.objects.values_list("pk", "first_used", "last_used")) == before
