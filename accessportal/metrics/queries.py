"""The database reads behind the state gauges: one snapshot of plain values per scrape.

Each read uses an existing index (named beside it) and counts at most `limit + 1` rows: the
aggregate runs over the `LIMIT`ed subquery itself (a sliced queryset's aggregate), or those
rows, one short column each, are counted in Python; the whole table is never scanned, so a
scrape costs the same however long the history. A count that reaches the bound means "more
than the bound". Times are returned as Unix timestamps;
ages are computed when the gauges are read, so a cached snapshot does not age them wrong.
"""

from __future__ import annotations

from collections import Counter as Tally
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet

from accessportal.kernel.choices import OutboxState, ProvisionState, RequestState
from accessportal.kernel.models import AuditChainHead
from accessportal.metrics.observe import target_label
from policies_app.models import ProvisionTarget
from requests_app.models import (
    PROVISION_UNSETTLED,
    AccessRequest,
    BreakGlass,
    Grant,
    Heartbeat,
    NotificationDelivery,
    OutboxMessage,
    ProvisionAssignment,
)
from requests_app.querysets import grant_open_q
from requests_app.selectors.usage import grants_never_used
from requests_app.services.heartbeats import AUDIT_BROKEN, AUDIT_VERIFIED, BEAT, WORKER

ENDING_SOON = timedelta(hours=1)


def _first(queryset: QuerySet, limit: int) -> QuerySet:
    """The first `limit + 1` rows of `queryset` (in index order: no ORDER BY)."""
    return queryset.order_by()[: limit + 1]


def _grouped(queryset: QuerySet, field: str, limit: int) -> dict[str, int]:
    """Rows by `field`, counted in Python from at most `limit + 1` one-column rows: the
    database stops at the bound instead of grouping the whole table."""
    return {
        str(key): n
        for key, n in Tally(_first(queryset, limit).values_list(field, flat=True)).items()
    }


def _stamp(at: datetime | None) -> float | None:
    return at.timestamp() if at else None


def requests_pending(limit: int) -> dict[str, int]:
    """Pending requests by kind (role, resource, mixed); index `request_pending_expires`."""
    # A sliced queryset aggregates over its own LIMITed subquery (in FROM).
    rows = _first(AccessRequest.objects.filter(state=RequestState.PENDING), limit).aggregate(
        role=Count("pk", filter=Q(resources=[])),
        resource=Count("pk", filter=Q(roles=[])),
        total=Count("pk"),
    )
    return {
        "role": rows["role"],
        "resource": rows["resource"],
        "mixed": rows["total"] - rows["role"] - rows["resource"],
    }


def grants_open(now: datetime, limit: int) -> tuple[int, int]:
    """(grants giving access now, of which ending within the hour); index
    `grant_unended_expires` (an open grant is never recorded ended)."""
    open_now = Grant.objects.filter(ended_at=None).open_at(now)
    rows = _first(open_now, limit).aggregate(
        open=Count("pk"), ending=Count("pk", filter=Q(expires__lte=now + ENDING_SOON))
    )
    return rows["open"], rows["ending"]


def outbox_by_channel(now: datetime, limit: int) -> tuple[dict[str, int], dict[str, int]]:
    """(work due now by channel, with `unrouted` messages; dead letters by channel);
    indexes `delivery_pending_due`, `outbox_pending`, `delivery_dead`."""
    due = NotificationDelivery.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
    backlog = _grouped(due, "channel", limit)
    unrouted = OutboxMessage.objects.filter(state=OutboxState.PENDING, routed_at=None)
    backlog["unrouted"] = _first(unrouted.values("pk"), limit).count()
    dead = _grouped(NotificationDelivery.objects.filter(state=OutboxState.DEAD), "channel", limit)
    return backlog, dead


def sweeps_oldest_due(now: datetime) -> dict[str, float | None]:
    """For each sweep, when the oldest work it has not yet done fell due (None: none is
    due). One MIN per sweep on its partial index."""

    def oldest(queryset: QuerySet, field: str) -> float | None:
        return _stamp(queryset.aggregate(at=Min(field))["at"])

    return {
        # request_pending_expires
        "expire_requests": oldest(
            AccessRequest.objects.filter(state=RequestState.PENDING, expires__lte=now), "expires"
        ),
        # grant_unended_expires: access ended at `expires`; `ended_at` records it
        "end_grants": oldest(Grant.objects.filter(ended_at=None, expires__lte=now), "expires"),
        # grant_unactivated_starts; what the activation sweep picks: open now, not started
        "activate_grants": oldest(
            Grant.objects.open_at(now).filter(activated_at=None, revoked_at=None), "starts"
        ),
        # delivery_pending_due and outbox_pending: due deliveries, messages not yet routed
        "dispatch_notifications": min(
            (
                at
                for at in (
                    oldest(
                        NotificationDelivery.objects.filter(
                            state=OutboxState.PENDING, next_attempt_at__lte=now
                        ),
                        "next_attempt_at",
                    ),
                    oldest(
                        OutboxMessage.objects.filter(state=OutboxState.PENDING, routed_at=None),
                        "created",
                    ),
                )
                if at is not None
            ),
            default=None,
        ),
        # provision_unsettled_due
        "provision": oldest(
            ProvisionAssignment.objects.filter(PROVISION_UNSETTLED, next_attempt_at__lte=now),
            "next_attempt_at",
        ),
    }


def provisioning_failing(limit: int) -> dict[tuple[str, str], int]:
    """Assignments whose last call failed, by (target, provisioner), every live target
    listed (0 when none fails); indexes `provision_unsettled_due` (a failed assignment is
    always unsettled) and `provtarget_live`."""
    live = ProvisionTarget.objects.filter(retired_at=None).values_list("key", "provisioner")
    out = {(target_label(provisioner, key), provisioner): 0 for key, provisioner in live}
    failed = ProvisionAssignment.objects.filter(PROVISION_UNSETTLED, state=ProvisionState.FAILED)
    rows = _first(failed, limit).values_list("target__key", "target__provisioner")
    for (key, provisioner), n in Tally(rows).items():
        out[(target_label(provisioner, key), provisioner)] = n
    return out


def heartbeats() -> dict[str, float | None]:
    """Last times of the worker and beat heartbeats and of the audit verifications (one
    query on a table of a few rows)."""
    seen = dict(Heartbeat.objects.values_list("name", "last_seen"))
    return {name: _stamp(seen.get(name)) for name in (WORKER, BEAT, AUDIT_VERIFIED, AUDIT_BROKEN)}


def audit_chain_length() -> int:
    """Events in the audit chain: its head's sequence number (one row)."""
    return AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0


def break_glass_unratified(now: datetime, limit: int) -> dict[str, int]:
    """Break-glass uses awaiting ratification: before their deadline (`awaiting`) and past
    it (`timed_out`: their access ended unratified); index `break_glass_awaiting`."""
    rows = _first(BreakGlass.objects.filter(state="AWAITING"), limit).aggregate(
        awaiting=Count("pk", filter=Q(deadline__gt=now)), total=Count("pk")
    )
    return {"awaiting": rows["awaiting"], "timed_out": rows["total"] - rows["awaiting"]}


def grants_unused(now: datetime, limit: int) -> dict[str, int]:
    """Grants approved and never used in the USAGE_UNUSED_WINDOW (`selectors.usage`): still
    open (`active`) and ended or revoked (`ended`); index `grant_unused_expires`."""
    rows = _first(grants_never_used(at=now), limit).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=grant_open_q(now)),
    )
    return {"active": rows["active"], "ended": rows["total"] - rows["active"]}


def snapshot(*, now: datetime, limit: int) -> dict:
    """Every state value the collector reports, as plain JSON-able data (cached)."""
    backlog, dead = outbox_by_channel(now, limit)
    grants, ending = grants_open(now, limit)
    return {
        "at": now.timestamp(),
        "limit": limit,
        "requests_pending": requests_pending(limit),
        "requests_past_ttl": _first(
            AccessRequest.objects.filter(state=RequestState.PENDING, expires__lte=now).values("pk"),
            limit,
        ).count(),
        "grants_open": grants,
        "grants_ending_soon": ending,
        "outbox_backlog": backlog,
        "outbox_dead": dead,
        "sweeps_oldest_due": sweeps_oldest_due(now),
        "provisioning_failing": [
            [target, provisioner, n]
            for (target, provisioner), n in sorted(provisioning_failing(limit).items())
        ],
        "heartbeats": heartbeats(),
        "audit_chain_length": audit_chain_length(),
        "break_glass_unratified": break_glass_unratified(now, limit),
        "grants_unused": grants_unused(now, limit),
    }
