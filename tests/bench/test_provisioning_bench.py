"""A small run of `python -m bench provisioning` (a real worker process, Redis, a target
database of its own on the local PostgreSQL server), so the harness cannot rot: it checks
that it runs, writes its JSON and cleans up after itself, never how fast anything was."""

from __future__ import annotations

import json
import math

import pytest
from django.contrib.auth import get_user_model

from bench import provisioning
from bench.provisioning_fixture import PREFIX
from policies_app.models import ProvisionTarget, Role
from requests_app.models import AccessRequest, ProvisionAssignment
from tests.worker_support import REDIS_URL

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _number(value) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value >= 0


def test_provisioning_benchmark_runs_and_cleans_up(
    transactional_db, django_db_serialized_rollback, tmp_path
):
    report = provisioning.measure(approvals=3, grants=40, rounds=1, warmup=1, broker_url=REDIS_URL)
    path = report.write(tmp_path)
    body = json.loads(path.read_text())
    assert path.name == "provisioning.json" and body["table"]["rows"]
    latency, reconcile = body["results"]["latency"], body["results"]["reconcile"]
    assert latency["approval_to_applied"]["n"] == latency["floor_noop_task"]["n"] == 3
    assert latency["members_in_target"] == 4  # every approval, warm-up included, applied
    assert _number(latency["ratio_p50"]) and _number(latency["approval_to_applied"]["p99_ms"])
    assert _number(latency["approval_to_recorded"]["p50_ms"])
    assert latency["task_run"]["provision_assignment"]["n"] == 3  # one run per approval
    assert reconcile["open_grants"] == 40
    assert reconcile["nothing_to_do"]["repairs"] == 0
    assert reconcile["drift_1_percent"]["repairs"] == 2  # one removed by hand, one added
    assert reconcile["workers_regrant_assignments"] == 1
    assert _number(reconcile["nothing_to_do"]["ratio_to_floor"])
    assert set(body["results"]["seeding_s"]) >= {"users_s", "grants_assignments_members_s"}
    # Nothing of the fixture is left but its users (actors of audit events).
    assert not Role.objects.filter(name__startswith=PREFIX).exists()
    assert not ProvisionTarget.objects.filter(label__contains="pbench_").exists()
    assert not ProvisionAssignment.objects.filter(user__username__startswith=PREFIX).exists()
    assert not AccessRequest.objects.filter(user__username__startswith=PREFIX).exists()
    assert get_user_model().objects.filter(username__startswith=PREFIX).count() == 4 + 40 + 1
