"""Counters and histograms observed where things happen (docs/operations.md, "Metrics").

The domain services call these small functions; each records after the transaction
commits (`transaction.on_commit`), so a rolled-back or retried change is not counted, and
none of them touches the database. They import no app: any layer may call them. In
gunicorn and Celery with PROMETHEUS_MULTIPROC_DIR set, prometheus_client writes the values
to that folder and the exporters add up every process's share.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

# Minutes to days: a decision waits for people; a delivery for a worker and a remote end.
DECISION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800)
DELIVERY_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)

REQUESTS = Counter(
    "accessportal_requests",
    "Access requests that entered a state (PENDING when created), by kind.",
    ["state", "kind"],
)
DECISION = Histogram(
    "accessportal_request_decision_seconds",
    "Time from a request's creation to its approval or denial (by reviews or directly).",
    ["outcome"],
    buckets=DECISION_BUCKETS,
)
REVIEWS = Counter(
    "accessportal_reviews",
    "Reviews submitted, by the reviewer's standing role that allowed the review and outcome.",
    ["reviewer_role", "outcome"],
)
DELIVERIES = Counter(
    "accessportal_notification_deliveries",
    "Notification delivery attempts by channel and outcome (sent, retry, dead).",
    ["channel", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "accessportal_notification_delivery_seconds",
    "Time from the change that wrote a notification to its delivery, by channel.",
    ["channel"],
    buckets=DELIVERY_BUCKETS,
)
PROVISION_CALLS = Counter(
    "accessportal_provisioning_calls",
    "Calls to provisioning targets (grant or revoke) by target and outcome (ok, failed).",
    ["target", "provisioner", "outcome"],
)

ONCALL_LOOKUPS = Counter(
    "accessportal_oncall_lookups",
    "Questions to on-call sources for review rules, by source and outcome (ok, failed).",
    ["source", "outcome"],
)

BREAK_GLASS = Counter(
    "accessportal_break_glass",
    "Break-glass uses (used) and their ratifications (ratified, rejected; late: after the "
    "deadline, when the access had already ended).",
    ["outcome"],
)
BREAK_GLASS_OUTCOMES = ("used", "ratified", "rejected", "ratified_late", "rejected_late")


def series_at_zero() -> None:
    """Export every break-glass series from the start, at 0. Called by the metrics app once
    the multiprocess folder exists (a labelled series writes its file there at once; at
    import time, in a worker, the folder may not exist yet)."""
    for outcome in BREAK_GLASS_OUTCOMES:
        BREAK_GLASS.labels(outcome=outcome)


_OUTCOMES = {"SENT": "sent", "PENDING": "retry", "DEAD": "dead"}


def request_kind(roles: Iterable[str], resources: Iterable[str]) -> str:
    """role, resource or mixed: what a request asks for."""
    roles, resources = bool(list(roles)), bool(list(resources))
    if roles and resources:
        return "mixed"
    return "resource" if resources else "role"


def requests_entered(state: str, requests: Iterable) -> None:
    """Count requests (with `roles` and `resources`) that moved to `state`, on commit."""
    kinds = Tally(request_kind(r.roles, r.resources) for r in requests)

    def record() -> None:
        for kind, count in kinds.items():
            REQUESTS.labels(state=str(state), kind=kind).inc(count)

    transaction.on_commit(record)


def request_decided(request, state: str, at: datetime) -> None:
    """A request approved or denied at `at`: its time to decision, on commit."""
    seconds = max(0.0, (at - request.created).total_seconds())
    transaction.on_commit(lambda: DECISION.labels(outcome=str(state).lower()).observe(seconds))


def review_submitted(reviewer_role: str, state: str) -> None:
    transaction.on_commit(
        lambda: REVIEWS.labels(reviewer_role=reviewer_role, outcome=str(state).lower()).inc()
    )


def delivery_finished(channel: str, state: str, written: datetime) -> None:
    """One delivery attempt ended in `state`; a sent one records its latency since `written`
    (when its outbox message was written). Called by the delivering worker after commit."""
    DELIVERIES.labels(channel=channel, outcome=_OUTCOMES.get(str(state), "retry")).inc()
    if state == "SENT":
        seconds = max(0.0, (timezone.now() - written).total_seconds())
        DELIVERY_LATENCY.labels(channel=channel).observe(seconds)


def target_label(provisioner: str, key: str) -> str:
    """A provisioning target's `target` label: its provisioner and the first 12 characters
    of its key (a sha256 of its identity, the short form `ProvisionTarget.__str__` uses).
    Short, stable while the target is, and free of secrets, unlike a webhook's URL."""
    return f"{provisioner}:{key[:12]}"


def provisioning_called(target: str, provisioner: str, ok: bool) -> None:
    """One call to a provisioning target (outside any transaction, in the worker)."""
    outcome = "ok" if ok else "failed"
    PROVISION_CALLS.labels(target=target, provisioner=provisioner, outcome=outcome).inc()


def oncall_looked_up(source: str, ok: bool) -> None:
    """One call to an on-call source (outside any transaction); a failure makes oncall()
    false, so the rule does not fire."""
    ONCALL_LOOKUPS.labels(source=source, outcome="ok" if ok else "failed").inc()


def break_glass(outcome: str) -> None:
    """A break-glass use opened, ratified or rejected (BREAK_GLASS_OUTCOMES), on commit."""
    transaction.on_commit(lambda: BREAK_GLASS.labels(outcome=outcome).inc())
