"""The audit chain's head row survives `flush` (transactional and live-server tests run it)."""

from __future__ import annotations

from django.core.management import call_command
from django.db import transaction

from requests_app.models import AuditChainHead, AuditEvent
from requests_app.services.audit import audit_record, audit_verify


def test_flush_leaves_an_audit_chain_head_so_auditing_still_works(transactional_db):
    call_command("flush", interactive=False, verbosity=0)
    assert AuditChainHead.objects.get(pk=1).seq == 0
    with transaction.atomic():
        audit_record(action="x", target_type="t", target_id="1")
    assert AuditEvent.objects.get().seq == 1 and audit_verify().ok
