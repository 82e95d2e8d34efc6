"""Evidence bundles: one request's record, provable offline (`accessctl evidence verify`).

A bundle is JSON: the request, the policy it was judged by (its snapshot; the role
documents as they are now, labelled so), its reviews, grants (with first and last use) and
their provisioning targets, its notifications' deliveries, its audit events whole, a chain
proof from its first event to a signed anchor at or after its last (other events appear as
`{seq, target commitment, fields commitment}`: linked, not read, nor whom they were about;
v1 events before the format cut-over and retention purge events appear whole), and the
anchor with its key id. Purged values appear as `{"$purged": "<sha256>"}`. Exporting one is
audited (`evidence.exported`).
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import OKPKey

from accessctl import chain
from accessctl.evidence import FORMAT
from accessportal.kernel.audit import audit_record, event_fields
from accessportal.kernel.errors import (
    AnchorsNotConfigured,
    EvidenceTooLarge,
    NotAllowed,
    NotFound,
    NotYetAnchored,
)
from accessportal.kernel.models import AuditEvent
from policies_app.models import Role
from requests_app.models import (
    AccessRequest,
    NotificationDelivery,
    OutboxMessage,
)
from requests_app.selectors.provisioning import grants_provisioning
from requests_app.services.audit_anchors import (
    Anchor,
    AnchorError,
    AnchorNotConfigured,
    anchors_read,
    audit_anchor_take,
)
from requests_app.services.jobs import job_after_commit

ACTION = "evidence.exported"
# Seconds a client waits for the worker's anchor before asking again (503 not_yet_anchored).
ANCHOR_RETRY_AFTER = 30
PERMISSION = "requests_app.view_auditevent"

POLICY_ROLES_NOTE = (
    "The role documents as they are NOW, not as they were when the request was judged: "
    "compare each `updated` with the request's `created`. The rules the request was judged by "
    "are `snapshot` (taken at creation: thresholds, threshold sets, caps); policy changes are "
    "in the audit log."
)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def evidence_request_for(*, request_id: Any, user) -> AccessRequest:
    """The request, if `user` may export its evidence: they see it (else NotFound, as for
    anything unseen) and hold `requests_app.view_auditevent` (else NotAllowed)."""
    try:
        pk = uuid.UUID(str(request_id))
    except ValueError:
        raise NotFound("no such request") from None
    request = AccessRequest.objects.visible_to(user).select_related("user").filter(pk=pk).first()
    if request is None:
        raise NotFound("no such request")
    if not user.has_perm(PERMISSION):
        raise NotAllowed(f"evidence bundles are for auditors ({PERMISSION})")
    return request


def _anchor_covering(seq: int) -> Anchor:
    """The earliest anchor in AUDIT_ANCHOR_FILE at or after `seq`. The web process never
    signs (it holds no anchor key): when none covers `seq` yet, the worker is asked for one
    (`dispatch_audit_anchor`, after commit) and NotYetAnchored says when to come back."""
    if not settings.AUDIT_ANCHOR_FILE:
        raise AnchorsNotConfigured(
            "evidence needs signed audit anchors: AUDIT_ANCHOR_FILE is not set (docs/deploy.md)"
        )
    anchors: list[Anchor] = []
    if Path(settings.AUDIT_ANCHOR_FILE).exists():
        try:
            anchors, _ = anchors_read(settings.AUDIT_ANCHOR_FILE)
        except AnchorError:
            anchors = []
    covering = [a for a in anchors if a.seq >= seq]
    if covering:
        return min(covering, key=lambda a: a.seq)
    raise NotYetAnchored(
        f"no signed audit anchor covers this request's last event (#{seq}) yet: one was "
        f"asked of the worker; retry in {ANCHOR_RETRY_AFTER} seconds",
        retry_after=ANCHOR_RETRY_AFTER,
    )


def _anchor_json(anchor: Anchor) -> dict:
    alg = jws.extract_compact(anchor.jws.encode()).protected.get("alg", "")
    out = {"seq": anchor.seq, "hash": anchor.hash, "time": anchor.time, "jws": anchor.jws,
           "alg": alg, "key_id": None, "public_key": None}  # fmt: skip
    path = settings.AUDIT_ANCHOR_PUBLIC_KEY_FILE or settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE
    if alg in ("Ed25519", "EdDSA") and path:
        key = OKPKey.import_key(Path(path).read_bytes())
        out["key_id"] = key.thumbprint()
        out["public_key"] = key.as_pem(private=False).decode()
    return out


def _request_json(r: AccessRequest) -> dict:
    return {
        "id": str(r.id),
        "user": r.user.get_username(),
        "user_id": r.user_id,
        "roles": r.roles,
        "resources": r.resources,
        "state": r.state,
        "reason": chain.text_exported(r.reason),
        "created": r.created,
        "expires": r.expires,
        "requested_duration": r.requested_duration,
        "max_duration": r.max_duration,
        "assume_start_time": r.assume_start_time,
        "access_starts": r.access_starts,
        "access_expires": r.access_expires,
        "suggested_reviewers": r.suggested_reviewers,
        "annotations": r.annotations,
        "resolved_at": r.resolved_at,
        "resolved_by_id": r.resolved_by_id,
        "resolve_reason": chain.text_exported(r.resolve_reason),
        "resolved_by_override": r.resolved_by_override,
        "revoked_at": r.revoked_at,
        "revoked_by_id": r.revoked_by_id,
        "revoke_reason": chain.text_exported(r.revoke_reason),
        "extends": str(r.extends_id) if r.extends_id else None,
    }


def _policy_json(r: AccessRequest) -> dict:
    names = set(r.roles) | set(r.user.standing_roles.values_list("name", flat=True))
    roles = Role.objects.filter(name__in=names).order_by("name")
    return {
        "snapshot": r.policy,
        "snapshot_taken": r.created,
        "roles": [{"name": x.name, "spec": x.spec, "updated": x.updated} for x in roles],
        "roles_note": POLICY_ROLES_NOTE,
    }


def _notifications_json(r: AccessRequest) -> list[dict]:
    messages = list(OutboxMessage.objects.filter(request=r).order_by("created", "id"))
    deliveries: dict[int, list] = {}
    for d in NotificationDelivery.objects.filter(message__in=messages).order_by("created"):
        deliveries.setdefault(d.message_id, []).append(
            {"channel": d.channel, "state": d.state, "attempts": d.attempts,
             "created": d.created, "sent_at": d.sent_at}
        )  # fmt: skip
    return [
        {
            "id": m.id,
            "event": m.event,
            "created": m.created,
            "state": m.state,
            "attempts": m.attempts,
            "sent_at": m.sent_at,
            "body": m.payload,
            "body_sha256": chain.commitment(m.payload),
            "deliveries": deliveries.get(m.id, []),
        }
        for m in messages
    ]


@contextmanager
def _snapshot():
    """One consistent read: on PostgreSQL a REPEATABLE READ, READ ONLY transaction (when
    not inside another one), so the rows, events and links are of the same moment."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        with transaction.atomic():
            yield


def evidence_bundle_build(*, request: AccessRequest, max_links: int | None = None) -> dict:
    """The bundle of `request` (permission checked by the caller: evidence_request_for),
    read in one snapshot, proven up to the earliest anchor in AUDIT_ANCHOR_FILE covering
    its last event (NotYetAnchored when none does yet). More than `max_links` other events
    in its proof (default EVIDENCE_MAX_LINKS; 0: no limit): EvidenceTooLarge."""
    max_links = settings.EVIDENCE_MAX_LINKS if max_links is None else max_links
    with _snapshot():
        return _build(AccessRequest.objects.select_related("user").get(pk=request.pk), max_links)


def _needed_seq(events: list[AuditEvent]) -> int:
    """How far the proof must reach: the request's last event but its exports, and, when
    its events hold purged values, the retention purge events that cover them
    (chain.PurgeCoverage: the verifier refuses a purged value no purge event covers)."""
    needed = max((e.seq for e in events if e.action != ACTION), default=events[-1].seq)
    purged = [e for e in events if chain.has_purged(e.data)]
    if not purged:
        return needed
    coverage = chain.PurgeCoverage()
    for event in purged:
        coverage.see(event_fields(event))
    later = AuditEvent.objects.filter(action=chain.PURGE_ACTION, seq__gt=purged[-1].seq)
    for event in later.order_by("seq").iterator():
        coverage.see(event_fields(event))
        if not coverage.uncovered():
            return max(needed, event.seq)
    return needed  # not covered: the verifier will say so


def _build(request: AccessRequest, max_links: int) -> dict:
    grants = list(request.grants.order_by("starts", "id"))
    events = list(
        AuditEvent.objects.filter(target_type="access_request", target_id=str(request.id))
        | AuditEvent.objects.filter(target_type="grant", target_id__in=[str(g.id) for g in grants])
    )
    events.sort(key=lambda e: e.seq)
    if not events:
        raise NotFound("the request has no audit events")
    anchor = _anchor_covering(_needed_seq(events))
    # Exports recorded after that anchor add nothing to prove: left out (so exporting twice
    # needs no new anchor).
    events = [e for e in events if e.seq <= anchor.seq]
    own = {e.seq for e in events}
    links = []
    between = AuditEvent.objects.filter(seq__gte=events[0].seq, seq__lte=anchor.seq).exclude(
        seq__in=own
    )
    if max_links and (count := between.count()) > max_links:
        raise EvidenceTooLarge(
            f"this request's proof runs through {count} other audit events, more than "
            f"EVIDENCE_MAX_LINKS ({max_links}); an operator can export it with "
            "`manage.py evidence_bundle --max-links 0`"
        )
    v1_links = 0
    for event in between.order_by("seq").iterator(chunk_size=2000):
        if event.version < chain.V2:
            v1_links += 1
            links.append({"seq": event.seq, "v": event.version, "event": event_fields(event)})
        elif event.action == chain.PURGE_ACTION:
            # Whole: it says which purges happened (counts, cutoff), so the verifier can
            # tell a retention purge's markers from another redaction.
            links.append({"seq": event.seq, "v": event.version, "event": event_fields(event)})
        else:
            fields = chain.fields_commitment(event_fields(event))
            target = chain.target_commitment(event.target_type, event.target_id)
            links.append({"seq": event.seq, "v": event.version, "target": target,
                          "fields": fields})  # fmt: skip
    reviews = request.reviews.select_related("reviewer").order_by("created", "id")
    provisioning = grants_provisioning(grants, now=timezone.now())
    bundle = {
        "format": FORMAT,
        "generated": timezone.now(),
        "request": _request_json(request),
        "policy": _policy_json(request),
        "reviews": [
            {
                "id": v.id,
                "reviewer": v.reviewer.get_username(),
                "reviewer_id": v.reviewer_id,
                "state": v.state,
                "reason": chain.text_exported(v.reason),
                "created": v.created,
                "voided_at": v.voided_at,
                "thresholds": v.threshold_indexes,
            }
            for v in reviews
        ],  # fmt: skip
        "grants": [
            {
                "id": g.id,
                "role": g.role,
                "resource": g.resource,
                "starts": g.starts,
                "expires": g.expires,
                "activated_at": g.activated_at,
                "revoked_at": g.revoked_at,
                "ended_at": g.ended_at,
                "first_used": g.first_used,
                "last_used": g.last_used,
            }
            for g in grants
        ],  # fmt: skip
        "provisioning": [
            {"grant": g.pk, **{k: row[k] for k in ("target", "provisioner", "state", "updated")}}
            for g in grants
            for row in provisioning[g.pk].rows
        ],  # fmt: skip
        "provisioning_note": "each grant's provisioning targets (those naming its role or "
        "resource) as they stand now, not covered by the audit proof; their history is in the "
        "audit log",
        "notifications": _notifications_json(request),
        "events": [event_fields(e) for e in events],
        "chain": {
            "from_seq": events[0].seq,
            "to_seq": anchor.seq,
            "links": links,
            "v1_links": v1_links,
        },  # fmt: skip
        "anchor": _anchor_json(anchor),
    }
    # Chain fields keep their JSON types (the hashes were computed over them).
    return _plain(bundle)


# The actor of an export from the command line without --as (whoever runs manage.py holds
# the database already).
COMMAND_ACTOR = "manage.py evidence_bundle"


def evidence_bundle_export(
    *, request_id: Any, user=None, anchor_now: bool = False, max_links: int | None = None
) -> dict:
    """Build the bundle of a request for `user` (see evidence_request_for; None: the
    operator's command, unchecked) and record the export (`evidence.exported`: who, the
    bundle's sha256, the anchor it reaches). No anchor covering it yet: the worker is asked
    for one and NotYetAnchored raised; `anchor_now` (the operator's command, which runs
    where the anchor key is) signs one here instead."""
    if user is None:
        try:
            request = AccessRequest.objects.select_related("user").get(
                pk=uuid.UUID(str(request_id))
            )
        except (ValueError, AccessRequest.DoesNotExist):
            raise NotFound("no such request") from None
    else:
        request = evidence_request_for(request_id=request_id, user=user)
    try:
        bundle = evidence_bundle_build(request=request, max_links=max_links)
    except NotYetAnchored:
        if not anchor_now:
            job_after_commit("dispatch_audit_anchor")
            raise
        try:
            audit_anchor_take()
        except AnchorNotConfigured as err:
            raise AnchorsNotConfigured(f"evidence needs signed audit anchors: {err}") from None
        except AnchorError as err:
            raise AnchorsNotConfigured(f"no audit anchor could be taken: {err}") from None
        bundle = evidence_bundle_build(request=request, max_links=max_links)
    with transaction.atomic():
        audit_record(
            action=ACTION,
            target_type="access_request",
            target_id=str(request.id),
            actor=user if user is not None else COMMAND_ACTOR,
            data={
                "bundle_sha256": chain.sha256(chain.canonical(bundle)),
                "anchor_seq": bundle["anchor"]["seq"],
                "events": len(bundle["events"]),
            },
        )
    return bundle
