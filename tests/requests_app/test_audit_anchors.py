"""Anchors: signed checkpoints of the audit chain kept outside the database.

The insider here owns the database: the append-only triggers are switched off
(`audit_tampering`) or bypassed as a superuser, and every hash is recomputed. Plain
verification cannot tell such a history from the real one; an anchor taken before can.
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from accessportal.kernel.audit import GENESIS, audit_record, audit_verify, event_hash
from accessportal.kernel.models import AuditChainHead, AuditEvent
from requests_app.services.audit_anchors import AnchorError, anchor_verify, anchors_read

ANCHOR_KEY = "test-anchor-key-0123456789abcdef0123456789"


@pytest.fixture
def anchor_file(settings, tmp_path):
    path = tmp_path / "anchors.jsonl"
    settings.AUDIT_ANCHOR_KEY = ANCHOR_KEY
    settings.AUDIT_ANCHOR_FILE = str(path)
    settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    return path


def _take_anchor(capsys) -> dict:
    call_command("audit_anchor")
    assert "anchor #" in capsys.readouterr().out
    with open(django_settings.AUDIT_ANCHOR_FILE) as lines:
        return json.loads(lines.read().splitlines()[-1])


def _rechain_from(seq: int) -> None:
    """Recompute every hash from `seq` on, and the head: a consistent rewrite."""
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else GENESIS
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = prev
        event.hash = prev = event_hash(event)
        event.save(update_fields=["prev_hash", "hash"])
    AuditChainHead.objects.filter(pk=1).update(
        seq=AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0,
        hash=prev,
    )


def _verify(*args) -> str:
    """verify_audit's complaint, or "" when it passes."""
    try:
        call_command("verify_audit", *args)
    except CommandError as err:
        return str(err)
    return ""


def test_an_anchor_is_a_signed_line_naming_the_head(history, anchor_file, capsys):
    line = _take_anchor(capsys)
    newest = history[-1]
    assert (line["seq"], line["hash"]) == (newest.seq, newest.hash)
    assert anchor_verify(line["jws"]).seq == newest.seq
    assert _verify("--anchors", str(anchor_file)) == ""
    assert _verify("--anchor", f"{newest.seq}:{newest.hash}") == ""


def test_a_rewrite_with_recomputed_hashes_is_detected_against_an_anchor(
    history, anchor_file, capsys, audit_tampering
):
    anchored = _take_anchor(capsys)
    victim = history[2]
    AuditEvent.objects.filter(pk=victim.pk).update(data={"reason": "nothing to see"})
    _rechain_from(victim.seq)

    assert audit_verify().ok  # the chain alone cannot tell
    problem = _verify("--anchors", str(anchor_file))
    assert "BROKEN" in problem and "does not match its anchor" in problem
    assert f"#{victim.seq + 1}" not in problem  # reported at the anchored event
    assert "does not match its anchor" in _verify(
        "--anchor", f"{anchored['seq']}:{anchored['hash']}"
    )


def test_tail_truncation_with_the_head_set_back_is_detected_against_an_anchor(
    history, anchor_file, capsys, audit_tampering, apply_yaml
):
    # The insider gives themselves a role; the periodic anchor records it.
    apply_yaml("kind: user\nname: mallory\nroles: [db-admin]\n")
    tail = list(AuditEvent.objects.filter(seq__gt=history[-1].seq))
    assert tail
    _take_anchor(capsys)
    # Then removes the events of the change and sets the head back to the event before.
    AuditEvent.objects.filter(seq__gt=history[-1].seq).delete()
    AuditChainHead.objects.filter(pk=1).update(seq=history[-1].seq, hash=history[-1].hash)

    assert _verify() == ""  # the point: without anchors the log looks whole
    problem = _verify("--anchors", str(anchor_file))
    assert f"the chain ends at #{history[-1].seq} but an anchor records #{tail[-1].seq}" in problem


@pytest.mark.postgres
def test_a_full_wipe_of_events_and_head_is_detected_against_an_anchor(history, anchor_file, capsys):
    anchored = _take_anchor(capsys)
    # The owner (a superuser) empties the log, its head and the records it covers.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the test's deferred checks first
        cursor.execute(
            "TRUNCATE requests_app_auditevent, requests_app_auditchainhead, "
            "requests_app_accessrequest CASCADE"
        )

    assert _verify() == ""  # an empty, "new" log verifies
    problem = _verify("--anchor", f"{anchored['seq']}:{anchored['hash']}")
    assert f"the chain ends at #0 but an anchor records #{anchored['seq']}" in problem
    assert "an anchor records" in _verify("--anchors", str(anchor_file))


def test_anchors_of_an_intact_growing_chain_all_hold(history, anchor_file, capsys):
    _take_anchor(capsys)
    with transaction.atomic():
        audit_record(action="test.later", target_type="test", target_id="1")
    _take_anchor(capsys)
    anchors, problems = anchors_read(str(anchor_file))
    assert problems == [] and [a.seq for a in anchors] == [len(history), len(history) + 1]
    call_command("verify_audit", "--anchors", str(anchor_file))
    assert "anchors held: 2" in capsys.readouterr().out


def test_a_forged_or_edited_anchor_line_is_refused(history, anchor_file, capsys, settings):
    line = _take_anchor(capsys)
    forged = dict(line, seq=1, hash=history[0].hash)  # the JWS still signs the head
    anchor_file.write_text(json.dumps(forged) + "\n")
    assert "does not say what its JWS signs" in _verify("--anchors", str(anchor_file))

    settings.AUDIT_ANCHOR_KEY = "another-key-0123456789abcdef0123456789"
    anchor_file.write_text(json.dumps(line) + "\n")
    assert "signature is not valid" in _verify("--anchors", str(anchor_file))


def test_anchor_arguments_are_checked(history, anchor_file):
    assert "not SEQ:HASH" in _verify("--anchor", "12")
    assert "cannot read the anchor file" in _verify("--anchors", str(anchor_file) + ".missing")


def test_audit_anchor_says_what_to_configure(history, settings):
    settings.AUDIT_ANCHOR_KEY = settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE = ""
    settings.AUDIT_ANCHOR_FILE = "/tmp/unused"
    with pytest.raises(CommandError, match="AUDIT_ANCHOR_KEY"):
        call_command("audit_anchor")
    settings.AUDIT_ANCHOR_KEY = ANCHOR_KEY
    settings.AUDIT_ANCHOR_FILE = settings.AUDIT_ANCHOR_WEBHOOK_URL = ""
    with pytest.raises(CommandError, match="AUDIT_ANCHOR_FILE"):
        call_command("audit_anchor")


def test_ed25519_anchors_are_checked_with_the_public_key_alone(
    history, anchor_file, settings, tmp_path, capsys
):
    from joserfc.jwk import OKPKey

    key = OKPKey.generate_key("Ed25519")
    private, public = tmp_path / "anchor.pem", tmp_path / "anchor.pub.pem"
    private.write_bytes(key.as_pem(private=True))
    public.write_bytes(key.as_pem(private=False))
    settings.AUDIT_ANCHOR_KEY, settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE = "", str(private)
    line = _take_anchor(capsys)
    assert json.loads(_b64(line["jws"].split(".")[0]))["alg"] == "Ed25519"

    settings.AUDIT_ANCHOR_PRIVATE_KEY_FILE, settings.AUDIT_ANCHOR_PUBLIC_KEY_FILE = "", str(public)
    assert _verify("--anchors", str(anchor_file)) == ""
    other = OKPKey.generate_key("Ed25519")
    public.write_bytes(other.as_pem(private=False))
    with pytest.raises(AnchorError, match="signature is not valid"):
        anchor_verify(line["jws"])


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
