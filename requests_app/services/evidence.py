"""Evidence bundles: one request's record, provable offline (`accessctl evidence verify`).

A bundle is JSON: the request, the policy it was judged by (its snapshot; the role
documents as they are now, labelled so), its reviews, grants (with first and last use) and
the requester's provisioning, its notifications' deliveries, its audit events whole, a chain
proof from its first event to a signed anchor at or after its last (other events appear as
`{seq, target, fields commitment}`: linked, not read; v1 events before the format cut-over
appear whole, their hash needs it), and the anchor with its key id. Purged values appear as
`{"$purged": "<sha256>"}`. Exporting one is audited (`evidence.exported`).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from joserfc import jws
from joserfc.jwk import OKPKey

from accessctl import chain
from accessctl.evidence import FORMAT
from accessportal.kernel.audit import audit_record, event_fields
from accessportal.kernel.errors import AnchorsNotConfigured, NotAllowed, NotFound
from accessportal.kernel.models import AuditEvent
from policies_app.models import Role
from requests_app.models import (
    AccessRequest,
    NotificationDelivery,
    OutboxMessage,
    ProvisionAssignment,
)
from requests_app.services.audit_anchors import (
    Anchor,
    AnchorError,
    AnchorNotConfigured,
    anchors_read,
    audit_anchor_take,
)

ACTION = "evidence.exported"
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
    """The earliest anchor in AUDIT_ANCHOR_FILE at or after `seq`, or a fresh one."""
    if settings.AUDIT_ANCHOR_FILE and Path(settings.AUDIT_ANCHOR_FILE).exists():
        try:
            anchors, _ = anchors_read(settings.AUDIT_ANCHOR_FILE)
        except AnchorError:
            anchors = []
        covering = [a for a in anchors if a.seq >= seq]
        if covering:
            return min(covering, key=lambda a: a.seq)
    try:
        return audit_anchor_take().anchor
    except AnchorNotConfigured as err:
        raise AnchorsNotConfigured(f"evidence needs signed audit anchors: {err}") from None
    except AnchorError as err:
        raise AnchorsNotConfigured(f"no audit anchor could be taken: {err}") from None


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


def evidence_bundle_build(*, request: AccessRequest) -> dict:
    """The bundle of `request` (permission checked by the caller: evidence_request_for).
    Takes a fresh anchor when none in AUDIT_ANCHOR_FILE covers the request's last event."""
    grants = list(request.grants.order_by("starts", "id"))
    events = list(
        AuditEvent.objects.filter(target_type="access_request", target_id=str(request.id))
        | AuditEvent.objects.filter(target_type="grant", target_id__in=[str(g.id) for g in grants])
    )
    events.sort(key=lambda e: e.seq)
    if not events:
        raise NotFound("the request has no audit events")
    anchor = _anchor_covering(events[-1].seq)
    own = {e.seq for e in events}
    links = []
    between = AuditEvent.objects.filter(seq__gte=events[0].seq, seq__lte=anchor.seq)
    for event in between.exclude(seq__in=own).order_by("seq").iterator(chunk_size=2000):
        if event.version >= chain.V2:
            fields = chain.fields_commitment(event_fields(event))
            links.append({"seq": event.seq, "v": event.version, "target_type": event.target_type,
                          "target_id": event.target_id, "fields": fields})  # fmt: skip
        else:
            links.append({"seq": event.seq, "v": event.version, "event": event_fields(event)})
    reviews = request.reviews.select_related("reviewer").order_by("created", "id")
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
            {
                "target": a.target.key,
                "desired": a.desired,
                "state": a.state,
                "applied_at": a.applied_at,
                "removed_at": a.removed_at,
                "attempts": a.attempts,
                "last_error": a.last_error,
            }
            for a in ProvisionAssignment.objects.filter(user_id=request.user_id)
            .select_related("target")
            .order_by("target__key")
        ],  # fmt: skip
        "provisioning_note": "the requester's provisioning assignments as they stand now "
        "(per user and target, not per grant); their history is in the audit log",
        "notifications": _notifications_json(request),
        "events": [event_fields(e) for e in events],
        "chain": {"from_seq": events[0].seq, "to_seq": anchor.seq, "links": links},
        "anchor": _anchor_json(anchor),
    }
    # Chain fields keep their JSON types (the hashes were computed over them).
    return _plain(bundle)


# The actor of an export from the command line without --as (whoever runs manage.py holds
# the database already).
COMMAND_ACTOR = "manage.py evidence_bundle"


def evidence_bundle_export(*, request_id: Any, user=None) -> dict:
    """Build the bundle of a request for `user` (see evidence_request_for; None: the
    operator's command, unchecked) and record the export (`evidence.exported`: who, the
    bundle's sha256, the anchor it reaches)."""
    if user is None:
        try:
            request = AccessRequest.objects.select_related("user").get(
                pk=uuid.UUID(str(request_id))
            )
        except (ValueError, AccessRequest.DoesNotExist):
            raise NotFound("no such request") from None
    else:
        request = evidence_request_for(request_id=request_id, user=user)
    bundle = evidence_bundle_build(request=request)
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
