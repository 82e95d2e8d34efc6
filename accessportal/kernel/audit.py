"""The append-only, hash-chained audit log.

Appending locks the single chain-head row, so events get gapless sequence numbers and each
stores the hash of the one before, even when many transactions append at once. Callers
append inside the transaction of the change they record: if the change rolls back, so does
its event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from accessctl import chain
from accessportal.kernel.bulk_insert import insert_rows
from accessportal.kernel.models import AuditChainHead, AuditEvent

GENESIS = chain.GENESIS
# The format new events are written in (accessctl/chain.py; docs/SECURITY.md). The first v2
# event is the cut-over: events before it stay v1, untouched.
FORMAT = chain.V2


# The columns of an event, in the order `_chain` builds rows.
_COLUMNS = (
    "seq", "created", "actor_id", "actor_name", "action", "target_type", "target_id", "data",
    "prev_hash", "hash", "version",
)  # fmt: skip


def _fields(event: AuditEvent) -> dict:
    return {
        "seq": event.seq,
        "created": event.created.isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "v": event.version,
    }


def event_fields(event: AuditEvent) -> dict:
    """An event as the chain format hashes it (and as an evidence bundle carries it)."""
    return {**_fields(event), "hash": event.hash}


def event_hash(event: AuditEvent) -> str:
    return chain.event_hash(_fields(event))


def event_body_commitment(event: AuditEvent) -> str:
    """A v2 event's link into the chain without its content (evidence bundles)."""
    return chain.body_commitment(
        seq=event.seq,
        target=chain.target_commitment(event.target_type, event.target_id),
        fields=chain.fields_commitment(_fields(event)),
    )


def actor_account(actor: Any):
    """The user account behind an actor (for `resolved_by` and such), None for the system
    and for named system actors."""
    return None if actor is None or isinstance(actor, str) else actor


def actor_label(actor: Any) -> str:
    """How an actor is named in notifications and audit events."""
    return _actor_fields(actor)[1]


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    """A user, None (the system: workers, sweeps) or a name of a system actor that is not a
    user (an identity provider pushing changes: "scim:okta")."""
    if actor is None:
        return None, "system"
    if isinstance(actor, str):
        return None, actor
    return actor.pk, actor.get_username()


@dataclass(frozen=True)
class AuditEntry:
    """What to record: who did what to which object, with details."""

    action: str
    target_type: str
    target_id: str
    actor: Any = None
    data: dict | None = None


def _chain_head_for_update() -> AuditChainHead:
    """The chain-head row, locked. Recreated only on an empty log (a fresh or flushed
    database: `manage.py flush` and test flushes empty every table, the head included);
    a missing head beside existing events is tampering, and appending stops."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    if AuditEvent.objects.exists():
        raise RuntimeError(
            "the audit chain head is missing while events exist: run verify_audit; "
            "nothing can be recorded until the head is restored"
        )
    # ON CONFLICT DO NOTHING: two first appenders may race to create it.
    AuditChainHead.objects.bulk_create([AuditChainHead(pk=1)], ignore_conflicts=True)
    return AuditChainHead.objects.select_for_update().get(pk=1)


def _json_encoder():
    """`json.dumps(value, cls=DjangoJSONEncoder)` as a function, its C encoder built once
    (json.dumps builds an encoder per call: half the cost of a small event's text); plain
    json.dumps where the C encoder is missing or writes anything else."""
    default = DjangoJSONEncoder().default

    def slow(value):
        return json.dumps(value, cls=DjangoJSONEncoder)

    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii

        encode = c_make_encoder(None, default, encode_basestring_ascii, None, ": ", ", ", False,
                                False, True)  # fmt: skip
        sample = {"b": [1, 2.5, None, True, 'é\n"'], "a": {"z": -1}, "t": timezone.now()}
        if "".join(encode(sample, 0)) != slow(sample):
            return slow
    except Exception:  # noqa: BLE001 - any surprise: the plain encoder
        return slow
    return lambda value: "".join(encode(value, 0))


_json_text = _json_encoder()
_DATETIME_TEXT = DjangoJSONEncoder().default
# Values JSON gives back as they were; a datetime comes back as DjangoJSONEncoder's text.
_AS_IS = frozenset({str, int, bool, type(None)})


def _as_read_back(data: dict) -> dict | None:
    """`data` as the database gives it back (`json.loads` of its JSON text), which is what
    is hashed, built without writing and parsing the text when its keys are strings and its
    values strings, ints, booleans, None or datetimes (the sweeps' events); None otherwise."""
    plain = {}
    for key, value in data.items():
        kind = type(value)
        if type(key) is not str:
            return None
        if kind in _AS_IS:
            plain[key] = value
        elif kind is datetime:
            plain[key] = _DATETIME_TEXT(value)
        else:
            return None
    return plain


def _chain(entries: list[AuditEntry]) -> tuple[AuditChainHead, list[tuple]]:
    """The locked chain head and the events' rows (values in `_COLUMNS` order, data as
    JSON text), each hashed over the data as the database will give it back."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of their change")
    head = _chain_head_for_update()
    now = timezone.now()
    created = now.isoformat()
    seq, prev_hash = head.seq, head.hash
    rows = []
    for entry in entries:
        actor_id, actor_name = _actor_fields(entry.actor)
        target_id = str(entry.target_id)
        data = entry.data or {}
        plain = _as_read_back(data)
        if plain is None:  # other values: the text, and what it reads back as
            data_text = _json_text(data)
            plain = json.loads(data_text)
        else:  # the same text: DjangoJSONEncoder writes a datetime as that string
            data_text = _json_text(plain)
        seq += 1
        digest = chain.event_hash(
            {"seq": seq, "created": created, "actor_id": actor_id, "actor_name": actor_name,
             "action": entry.action, "target_type": entry.target_type, "target_id": target_id,
             "data": plain, "prev_hash": prev_hash, "v": FORMAT}
        )  # fmt: skip
        rows.append(
            (seq, now, actor_id, actor_name, entry.action, entry.target_type, target_id,
             data_text, prev_hash, digest, FORMAT)
        )  # fmt: skip
        prev_hash = digest
    return head, rows


def _advance(head: AuditChainHead, last_row: tuple) -> None:
    head.seq, head.hash = last_row[0], last_row[_COLUMNS.index("hash")]
    head.save(update_fields=["seq", "hash"])


def audit_record_many(entries: list[AuditEntry]) -> int:
    """Append events in order; must run inside the caller's transaction. Returns how many.

    Written in one statement (COPY on PostgreSQL): the sweeps append 1,000 at a time."""
    if not entries:
        return 0
    head, rows = _chain(entries)
    insert_rows(AuditEvent, _COLUMNS, rows)
    _advance(head, rows[-1])
    return len(rows)


def audit_record(
    *, action: str, target_type: str, target_id: str, actor: Any = None, data: dict | None = None
) -> AuditEvent:
    """Append one event; must run inside the caller's transaction."""
    head, (row,) = _chain([AuditEntry(action, target_type, target_id, actor, data)])
    values = dict(zip(_COLUMNS, row, strict=True))
    values["data"] = json.loads(values["data"])
    event = AuditEvent.objects.create(**values)
    _advance(head, row)
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None
    last_hash: str = ""  # of the newest verified event: record it elsewhere to anchor the chain
    anchors_checked: int = 0


def audit_verify(
    *, anchors: Mapping[int, str] | None = None, chunk_size: int = 2000
) -> ChainReport:
    """Walk the whole chain; report the first broken link (edited, deleted or inserted).

    `anchors` maps sequence numbers to the hashes that signed checkpoints recorded outside
    the database (`services.audit_anchors`): the chain must still hold each of them, which
    catches what a consistent rewrite, a truncation with the head set back, or a wipe of
    events and head leaves intact.

    Each event is hashed in its own format (`version`: v1 before the cut-over, v2 after), so
    a mixed chain verifies; a purged v2 value is checked through the hash its marker keeps,
    and must be covered by a later `retention.purged` event (chain.PurgeCoverage)."""
    anchors = dict(anchors or {})
    if anchors.get(0, GENESIS) != GENESIS:
        return ChainReport(False, 0, "the anchor of #0 is not the genesis hash", 0)
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    coverage = chain.PurgeCoverage()
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=chunk_size):
        if event.seq != expected_seq:
            return ChainReport(
                False,
                checked,
                f"sequence gap: expected #{expected_seq}, found #{event.seq} "
                f"(events deleted or inserted)",
                expected_seq,
            )
        if event.prev_hash != expected_prev:
            return ChainReport(
                False, checked, f"#{event.seq} does not link to the event before it", event.seq
            )
        try:
            digest = event_hash(event)
        except ValueError as err:
            return ChainReport(False, checked, f"#{event.seq}: {err}", event.seq)
        if digest != event.hash:
            return ChainReport(
                False, checked, f"#{event.seq} was altered: its hash does not match", event.seq
            )
        anchored = anchors.get(event.seq)
        if anchored is not None and anchored != event.hash:
            return ChainReport(
                False,
                checked,
                f"#{event.seq} does not match its anchor (sha256 {anchored}): the chain was "
                f"rewritten up to or before it",
                event.seq,
            )
        coverage.see(_fields(event))
        expected_prev, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    if uncovered := coverage.uncovered():
        return ChainReport(
            False,
            checked,
            f"#{uncovered[0]} holds a purged value that no later retention purge covers "
            f"({len(uncovered)} such event(s)): it was redacted outside the retention purge",
            uncovered[0],
        )
    beyond = [seq for seq in anchors if seq > checked]
    if beyond:
        return ChainReport(
            False,
            checked,
            f"the chain ends at #{checked} but an anchor records #{max(beyond)}: events were "
            f"removed (the newest ones, or all of them) and the head set back",
            checked + 1,
        )
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None and checked:
        return ChainReport(
            False,
            checked,
            f"the chain head is missing (the chain ends at #{expected_seq - 1}): "
            f"it was deleted, and the newest events may have been deleted with it",
            expected_seq,
        )
    if head and (head.seq != expected_seq - 1 or head.hash != expected_prev):
        return ChainReport(
            False,
            checked,
            f"the chain ends at #{expected_seq - 1} but its head says #{head.seq}: "
            f"the newest events were deleted or the head was altered",
            expected_seq,
        )
    return ChainReport(
        True, checked, last_hash=expected_prev if checked else "", anchors_checked=len(anchors)
    )
