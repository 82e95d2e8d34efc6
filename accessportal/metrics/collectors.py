"""The state gauges, read from the database when /metrics is scraped (web only).

The snapshot (accessportal/metrics/queries.py) is kept in Django's cache for
METRICS_DB_CACHE seconds: with a shared cache (CACHE_URL), several web processes and nodes
scraped at once run the queries once per interval. Ages are computed from the cached
times at each scrape. A database that does not answer makes `accessportal_metrics_db_ok`
0 and leaves the other gauges out; the rest of /metrics is still served. A cache that does
not answer makes `accessportal_metrics_cache_ok` 0: the snapshot is then read from the
database at each scrape and served all the same.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from accessportal.kernel.choices import NotificationChannel
from accessportal.metrics import queries
from requests_app.services.heartbeats import AUDIT_BROKEN, AUDIT_VERIFIED, BEAT, WORKER

logger = logging.getLogger(__name__)

CACHE_KEY = "accessportal:metrics:db:1"
INF = float("inf")


def _cache_read(ttl: int) -> tuple[dict | None, bool]:
    """(the cached snapshot or None, whether the cache answered)."""
    if ttl <= 0:
        return None, True
    try:
        return cache.get(CACHE_KEY), True
    except Exception as exc:  # noqa: BLE001 - a cache outage falls back to the database
        logger.warning("metrics: the cache was not read (%s)", type(exc).__name__)
        return None, False


def _cache_write(ttl: int, snap: dict) -> bool:
    try:
        cache.set(CACHE_KEY, snap, ttl)
    except Exception as exc:  # noqa: BLE001 - the snapshot is served all the same
        logger.warning("metrics: the cache was not written (%s)", type(exc).__name__)
        return False
    return True


def db_snapshot() -> tuple[dict | None, bool]:
    """(the cached snapshot, or a fresh one then cached for METRICS_DB_CACHE seconds, or
    None when the database did not answer; whether the cache answered). A cache that fails
    is read around: the database is queried and its snapshot served."""
    ttl = settings.METRICS_DB_CACHE
    found, cache_ok = _cache_read(ttl)
    if found is not None:
        return found, cache_ok
    try:
        fresh = queries.snapshot(now=timezone.now(), limit=settings.METRICS_COUNT_LIMIT)
    except Exception as exc:  # noqa: BLE001 - a scrape answers without the database
        logger.warning("metrics: the database gauges were not read (%s)", type(exc).__name__)
        return None, cache_ok
    if ttl > 0 and cache_ok:
        cache_ok = _cache_write(ttl, fresh)
    return fresh, cache_ok


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _age(now: float, at: float | None) -> float:
    return INF if at is None else max(0.0, now - at)


class DatabaseCollector(Collector):
    """Gauges of the service's state, from one cached snapshot of aggregate queries."""

    def describe(self):
        return []  # nothing is read when the collector is registered

    def collect(self):
        snap, cached = db_snapshot()
        ok = _gauge("accessportal_metrics_db_ok", "1 when the state gauges were read, else 0.")
        ok.add_metric([], 0 if snap is None else 1)
        yield ok
        cache_ok = _gauge(
            "accessportal_metrics_cache_ok",
            "1 when the cache holding the state gauges' snapshot answered, else 0.",
        )
        cache_ok.add_metric([], 1 if cached else 0)
        yield cache_ok
        if snap is not None:
            yield from self._families(snap, time.time())

    def _families(self, snap: dict, now: float):
        age = _gauge(
            "accessportal_metrics_db_snapshot_age_seconds",
            "Age of the cached database snapshot the state gauges come from.",
        )
        age.add_metric([], _age(now, snap["at"]))
        yield age

        pending = _gauge(
            "accessportal_requests_pending", "Requests pending now, by kind.", ["kind"]
        )
        for kind, count in sorted(snap["requests_pending"].items()):
            pending.add_metric([kind], count)
        yield pending
        past = _gauge(
            "accessportal_requests_past_ttl",
            "Requests still pending after their pending lifetime ended (not yet expired).",
        )
        past.add_metric([], snap["requests_past_ttl"])
        yield past

        grants = _gauge("accessportal_grants_open", "Grants giving access now.")
        grants.add_metric([], snap["grants_open"])
        yield grants
        ending = _gauge(
            "accessportal_grants_ending_soon", "Grants open now that end within the next hour."
        )
        ending.add_metric([], snap["grants_ending_soon"])
        yield ending

        channels = [c.value for c in NotificationChannel]
        backlog = _gauge(
            "accessportal_outbox_backlog",
            "Notification work due now: deliveries by channel, messages not yet routed.",
            ["channel"],
        )
        for channel in [*channels, "unrouted"]:
            backlog.add_metric([channel], snap["outbox_backlog"].get(channel, 0))
        yield backlog
        dead = _gauge(
            "accessportal_outbox_dead_letters",
            "Deliveries that ran out of attempts (dead letters), by channel.",
            ["channel"],
        )
        for channel in channels:
            dead.add_metric([channel], snap["outbox_dead"].get(channel, 0))
        yield dead

        lag = _gauge(
            "accessportal_sweep_lag_seconds",
            "How long the oldest work each sweep has not yet done has been due (0: none).",
            ["sweep"],
        )
        for sweep, due in sorted(snap["sweeps_oldest_due"].items()):
            lag.add_metric([sweep], 0.0 if due is None else max(0.0, now - due))
        yield lag

        failing = _gauge(
            "accessportal_provisioning_failing",
            "Provisioning assignments whose last call to the target failed, by target.",
            ["target", "provisioner"],
        )
        for target, provisioner, count in snap["provisioning_failing"]:
            failing.add_metric([target, provisioner], count)
        yield failing

        beats = snap["heartbeats"]
        heartbeat = _gauge(
            "accessportal_heartbeat_age_seconds",
            "Seconds since the worker and beat heartbeats (+Inf: never seen).",
            ["name"],
        )
        for name in (WORKER, BEAT):
            heartbeat.add_metric([name], _age(now, beats.get(name)))
        yield heartbeat

        glass = _gauge(
            "accessportal_break_glass_unratified",
            "Break-glass uses not ratified: awaiting (before the deadline), timed_out (after).",
            ["state"],
        )
        for state in ("awaiting", "timed_out"):
            glass.add_metric([state], snap.get("break_glass_unratified", {}).get(state, 0))
        yield glass

        unused = _gauge(
            "accessportal_grants_unused",
            "Grants approved and never used whose access ran in the last USAGE_UNUSED_WINDOW "
            "days: still open (active) and ended or revoked (ended).",
            ["state"],
        )
        for state in ("active", "ended"):
            unused.add_metric([state], snap.get("grants_unused", {}).get(state, 0))
        yield unused

        chain = _gauge("accessportal_audit_chain_length", "Events in the audit hash chain.")
        chain.add_metric([], snap["audit_chain_length"])
        yield chain
        yield from self._verification(beats, now)

    def _verification(self, beats: dict, now: float):
        verified, broken = beats.get(AUDIT_VERIFIED), beats.get(AUDIT_BROKEN)
        last = max((at for at in (verified, broken) if at is not None), default=None)
        age = _gauge(
            "accessportal_audit_verification_age_seconds",
            "Seconds since the audit log was last verified (+Inf: never).",
        )
        age.add_metric([], _age(now, last))
        yield age
        if last is not None:
            ok = _gauge(
                "accessportal_audit_verification_ok",
                "1 when the last verification found the audit log whole, 0 when broken.",
            )
            ok.add_metric([], 1 if last == verified else 0)
            yield ok
