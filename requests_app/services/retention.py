"""Retention: purge the reasons and notification bodies of requests finished long ago.

Each purged value is replaced by a marker that keeps its hash (accessctl/chain.py): a text
column by `$purged:<sha256>`, an audit event's value and an outbox payload by
`{"$purged": "<sha256>"}`. A v2 audit event commits to each value by that same hash, so the
chain, its anchors and evidence bundles still verify after a purge; what was said is gone,
that something was said (and which hash it had) stays. v1 events (before the format's
cut-over) hash their raw data: their reasons are kept and counted, never touched.

A request is purged once it is finished (not PENDING, and its access ended) for longer
than the period: denied, withdrawn or expired at `resolved_at`, revoked at `revoked_at`,
approved at `access_expires`. Off unless RETENTION_PURGE_AFTER_DAYS is set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accessctl import chain
from accessportal.kernel.audit import FORMAT, audit_record
from accessportal.kernel.choices import OutboxState, RequestState
from accessportal.kernel.models import AuditEvent
from requests_app.break_glass_models import BreakGlass, Ratification
from requests_app.models import AccessRequest, OutboxMessage, Review

ACTION = "retention.purged"
BATCH = 500
# The columns of a request that hold reasons, and the audit data keys that carry them.
REQUEST_REASONS = ("reason", "resolve_reason", "revoke_reason")
AUDIT_REASON_KEYS = frozenset({"reason", "resolve_reason", "revoke_reason"})


@dataclass
class PurgeCounts:
    days: int
    cutoff: str
    requests: int = 0  # finished before the cutoff, looked at
    request_reasons: int = 0
    review_reasons: int = 0
    break_glass_reasons: int = 0  # the verdicts on break-glass uses
    notification_bodies: int = 0
    audit_values: int = 0
    audit_v1_values_kept: int = 0  # reasons in v1 events: purging them would break the chain

    def as_data(self) -> dict:
        return asdict(self)

    @property
    def purged(self) -> int:
        return (
            self.request_reasons + self.review_reasons + self.break_glass_reasons
            + self.notification_bodies + self.audit_values
        )  # fmt: skip


def _finished_before(cutoff) -> Q:
    """Finished before the cutoff, and nothing left to judge: a break-glass use still
    awaiting its verdict keeps its reasons for whoever judges it."""
    return (
        Q(
            state__in=[RequestState.DENIED, RequestState.WITHDRAWN, RequestState.EXPIRED],
            resolved_at__lt=cutoff,
        )
        | Q(state=RequestState.APPROVED, access_expires__lt=cutoff)
        | Q(state=RequestState.REVOKED, revoked_at__lt=cutoff)
    ) & ~Q(break_glass__state=Ratification.AWAITING)


def _purgeable_text(text: str) -> bool:
    return bool(text) and not chain.text_is_purged(text)


def _purgeable_value(value) -> bool:
    return isinstance(value, str) and value != "" and not chain.is_purged(value)


def _audit_purge_path(on: bool) -> None:
    """PostgreSQL: open (for this transaction only: the setting holds its id) the one UPDATE
    the audit trigger lets through, a v2 reason becoming its purged marker (migration 0025)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            value = "txid_current()::text" if on else "''"
            cursor.execute(f"SELECT set_config('accessportal.audit_purge', {value}, true)")


def _purge_batch(ids: list, counts: PurgeCounts, *, cutoff, dry_run: bool) -> None:
    requests = list(AccessRequest.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    changed_requests = []
    for request in requests:
        fields = [name for name in REQUEST_REASONS if _purgeable_text(getattr(request, name))]
        for name in fields:
            setattr(request, name, chain.text_purged(getattr(request, name)))
        if fields:
            changed_requests.append(request)
            counts.request_reasons += len(fields)
    reviews = [
        r
        for r in Review.objects.select_for_update().filter(request_id__in=ids).order_by("pk")
        if _purgeable_text(r.reason)
    ]
    for review in reviews:
        review.reason = chain.text_purged(review.reason)
    counts.review_reasons += len(reviews)
    # A verdict given after the cutoff waits for a later purge, as its audit event does.
    verdicts = [
        b
        for b in BreakGlass.objects.select_for_update()
        .filter(request_id__in=ids, decided_at__lt=cutoff)
        .order_by("pk")
        if _purgeable_text(b.decision_reason)
    ]
    for verdict in verdicts:
        verdict.decision_reason = chain.text_purged(verdict.decision_reason)
    counts.break_glass_reasons += len(verdicts)
    messages = [
        m
        for m in OutboxMessage.objects.filter(request_id__in=ids).exclude(state=OutboxState.PENDING)
        if not chain.is_purged(m.payload)
    ]
    for message in messages:
        message.payload = chain.purged(message.payload)
    counts.notification_bodies += len(messages)
    events = []
    # Only events older than the cutoff: this batch's `retention.purged` event (cutoff C)
    # is what covers a purged value, and it covers only values of events before C.
    for event in AuditEvent.objects.filter(
        target_type="access_request", target_id__in=[str(i) for i in ids], created__lt=cutoff
    ).order_by("seq"):
        keys = [k for k, v in (event.data or {}).items() if k in AUDIT_REASON_KEYS
                and _purgeable_value(v)]  # fmt: skip
        if not keys:
            continue
        if event.version < FORMAT:
            counts.audit_v1_values_kept += len(keys)
            continue
        event.data = {k: chain.purged(v) if k in keys else v for k, v in event.data.items()}
        events.append(event)
        counts.audit_values += len(keys)
    if dry_run:
        return
    AccessRequest.objects.bulk_update(changed_requests, list(REQUEST_REASONS))
    Review.objects.bulk_update(reviews, ["reason"])
    BreakGlass.objects.bulk_update(verdicts, ["decision_reason"])
    OutboxMessage.objects.bulk_update(messages, ["payload"])
    if events:
        _audit_purge_path(True)
        for event in events:
            AuditEvent.objects.filter(pk=event.pk).update(data=event.data)
        _audit_purge_path(False)


def retention_purge(*, days: int | None = None, dry_run: bool = False) -> PurgeCounts:
    """Purge reasons and notification bodies of requests finished more than `days` days
    ago (default RETENTION_PURGE_AFTER_DAYS; 0: nothing). One transaction per batch of
    requests, each with its `retention.purged` audit event (counts and period); `dry_run`
    only counts."""
    days = settings.RETENTION_PURGE_AFTER_DAYS if days is None else days
    now = timezone.now()
    cutoff = now - timedelta(days=days)
    counts = PurgeCounts(days=days, cutoff=cutoff.isoformat())
    if days <= 0:
        return counts
    ids = list(
        AccessRequest.objects.filter(_finished_before(cutoff))
        .order_by("created", "pk")
        .values_list("pk", flat=True)
    )
    counts.requests = len(ids)
    kinds = ("request_reasons", "review_reasons", "break_glass_reasons", "notification_bodies",
             "audit_values", "audit_v1_values_kept")  # fmt: skip
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        before = {kind: getattr(counts, kind) for kind in kinds}
        purged_before = counts.purged
        with transaction.atomic():
            _purge_batch(batch, counts, cutoff=cutoff, dry_run=dry_run)
            if not dry_run and counts.purged > purged_before:
                audit_record(
                    action=ACTION,
                    target_type="retention",
                    target_id=counts.cutoff,
                    data={
                        "days": days,
                        "cutoff": counts.cutoff,
                        "requests": len(batch),
                        **{kind: getattr(counts, kind) - before[kind] for kind in kinds},
                    },
                )
    return counts
